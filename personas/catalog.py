"""The personas: who owns which section of Φ, which tool judges them, and their prompts.

Prompts are Markdown files shipped as package data in ``personas/prompts/`` so they can be read
and reviewed as documents: ``<persona>.md`` frames each persona and ``objectives.md`` holds the
primary objectives every proposing persona shares.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources

from evorec.errors import ConfigError

__all__ = ["PROPOSERS", "Persona", "load_prompt", "persona_of"]


class Persona(StrEnum):
    """An agent role. The three proposers own one section of Φ each; the Linter reviews."""

    OPTIMIZER = "optimizer"
    ARCHITECTURE = "architecture"
    REWARD = "reward"
    LINTER = "linter"

    @property
    def section(self) -> str | None:
        """The Φ section this persona may change (None for the Linter)."""
        return None if self is Persona.LINTER else self.value

    @property
    def tool(self) -> str | None:
        """The tool that judges this persona's proposals (None for the Linter)."""
        return {
            Persona.OPTIMIZER: "compute_loss",
            Persona.ARCHITECTURE: "compute_loss",
            Persona.REWARD: "run_sql_query",
        }.get(self)

    @property
    def title(self) -> str:
        """Display name (``Optimizer``)."""
        return self.value.capitalize()


#: The personas that propose deltas.
PROPOSERS: tuple[Persona, ...] = (Persona.OPTIMIZER, Persona.ARCHITECTURE, Persona.REWARD)


def persona_of(value: Persona | str) -> Persona:
    """Parse a persona name (case-insensitive); ``ConfigError`` naming the choices otherwise."""
    if isinstance(value, Persona):
        return value
    try:
        return Persona(str(value).strip().lower())
    except ValueError:
        names = ", ".join(p.value for p in Persona)
        raise ConfigError(f"unknown persona {value!r} (expected one of {names})") from None


@cache
def load_prompt(name: Persona | str) -> str:
    """The text of ``prompts/<name>.md`` (a persona, or ``objectives``)."""
    key = name.value if isinstance(name, Persona) else str(name)
    try:
        return (
            (resources.files("evorec.personas") / "prompts" / f"{key}.md")
            .read_text("utf-8")
            .strip()
        )
    except FileNotFoundError:
        raise ConfigError(f"no prompt named {key!r} in evorec.personas/prompts") from None
