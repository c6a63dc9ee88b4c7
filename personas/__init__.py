"""The personas (Optimizer, Architecture, Reward, Linter), their prompts and context builder.

Prompts are Markdown package data in ``prompts/``; :func:`build_context` assembles a persona's
prompt in the paper's order and :func:`lint_delta` is the Linter's deterministic rule set.
"""

from evorec.personas.catalog import PROPOSERS, Persona, load_prompt, persona_of
from evorec.personas.context import (
    DEFAULT_NORTH_STAR_GUARDRAILS,
    SECTION_TITLES,
    Guardrails,
    build_context,
    build_lint_context,
)
from evorec.personas.linter import LintVerdict, lint_delta

__all__ = [
    "DEFAULT_NORTH_STAR_GUARDRAILS",
    "PROPOSERS",
    "SECTION_TITLES",
    "Guardrails",
    "LintVerdict",
    "Persona",
    "build_context",
    "build_lint_context",
    "lint_delta",
    "load_prompt",
    "persona_of",
]
