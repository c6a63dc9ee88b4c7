"""State and run-time context of the offline agent (the personas' think-code-verify loop)."""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from typing_extensions import TypedDict

__all__ = [
    "PERSONA_CHOICES",
    "OfflineContext",
    "OfflineInput",
    "OfflineOutput",
    "OfflineState",
]

#: ``OfflineContext.persona`` values: one proposing persona, or ``all`` (rotating
#: optimizer → architecture → reward, one persona per iteration).
PERSONA_CHOICES = ("optimizer", "architecture", "reward", "all")


class OfflineState(TypedDict, total=False):
    """What the offline agent carries between nodes (checkpointed after every step)."""

    iteration: int
    """Proposals finished (journaled) by this thread so far; the budget counts these."""
    persona: str | None
    """Persona of the iteration in flight (optimizer, architecture or reward)."""
    experiment_id: str | None
    """Journal id reserved for the iteration in flight (so a re-run journal write is a no-op)."""
    parent_phi: dict[str, Any] | None
    """Production Φ (JSON) the iteration's delta is written against."""
    parent_phi_hash: str | None
    """Hash of ``parent_phi``."""
    hypothesis: str | None
    """The think step's hypothesis."""
    proposal: dict[str, Any] | None
    """The current proposal: ``{"hypothesis", "delta", "meta"}`` (delta = RFC 6902 patch)."""
    candidate_phi: dict[str, Any] | None
    """``parent_phi`` with the delta applied, once it verified."""
    lint: dict[str, Any] | None
    """The linter's verdict on the current delta (``{"ok", "problems"}``)."""
    error: str | None
    """The error the current step met (shown to the proposer on repair); None when fine."""
    errors: list[str]
    """Every error of the iteration in flight, oldest first."""
    repairs: int
    """Repair attempts spent on the iteration in flight (bounded by ``max_repairs``)."""
    tool: str | None
    """Tool that judged the iteration: ``compute_loss`` or ``label_correlation``."""
    result: dict[str, Any] | None
    """The tool's output for the current candidate."""
    judgement: dict[str, Any] | None
    """The judge's verdict: ``better``, ``improvement`` (higher is better), ``reason``."""
    last: dict[str, Any] | None
    """Summary of the last finished iteration (id, persona, status, improvement, tool)."""
    experiments: Annotated[list[str], operator.add]
    """Experiment ids this thread has journaled, in order."""
    promoted: Annotated[list[str], operator.add]
    """Experiment ids this thread promoted to the online queue (PROPOSED)."""


class OfflineInput(TypedDict, total=False):
    """What a caller may pass in: nothing is required (settings come through the context)."""

    iteration: int
    """Start counting the budget from here (rarely needed)."""


class OfflineOutput(TypedDict, total=False):
    """What the graph hands back to a host: the journaled and promoted experiments."""

    experiments: list[str]
    """Experiment ids journaled by this thread."""
    promoted: list[str]
    """Experiment ids promoted to the online queue."""
    last: dict[str, Any] | None
    """Summary of the last finished iteration."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass
class OfflineContext:
    """Run-time settings (explicit value, then EVOREC_* environment variable, then default)."""

    model: str = field(default_factory=lambda: _env("EVOREC_MODEL", "builtin"))
    """Proposer: builtin | random | optuna | gemini[:model] | provider:model."""
    persona: str = "all"
    """optimizer | architecture | reward | all (rotate the three, one per iteration)."""
    budget: int = 10
    """Proposals per thread (each ends as one journal record, rejected ones included)."""
    data_path: str = field(default_factory=lambda: _env("EVOREC_DATA", "runs/logs.duckdb"))
    """Logged data (from `evorec simulate`) the proxies read."""
    journal_path: str = field(default_factory=lambda: _env("EVOREC_JOURNAL", "runs/journal.duckdb"))
    """Experiment Journal (DuckDB) the proposals are recorded in."""
    workdir: str = field(default_factory=lambda: _env("EVOREC_WORKDIR", "runs"))
    """Holds the production registry (``production.json``) and the checkpoints."""
    surface: str = field(default_factory=lambda: _env("EVOREC_SURFACE", "home_feed"))
    """Surface the experiments target (recorded in the journal)."""
    history_mode: str = "sorted"
    """Journal history in prompts: sorted | topk | unsorted | none (the paper's ablation)."""
    top_k: int = 10
    """Experiments shown with history_mode ``topk``."""
    max_repairs: int = 2
    """Repair rounds (the proposer sees its own error) before a proposal is rejected."""
    proxy_seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds compute_loss trains each candidate (and the baseline) with."""
    proxy_budget: int | None = None
    """Training steps per seed for compute_loss (None: the proxy's default)."""
    north_star: str = "active_days"
    """User-level outcome the Reward persona's label is correlated with."""
    steering: str | None = None
    """Optional instructions from a human, placed in the prompt's Steering section."""
    guardrails: dict[str, Any] | None = None
    """Overrides of the prompt's and linter's guardrails (``personas.Guardrails`` fields)."""
    llm_linter: bool = False
    """With a chat model, also ask it as the Linter persona (the rule-based linter always runs)."""
    promote: bool = True
    """Promote proxy winners to the online queue (PROXY_BETTER → PROPOSED)."""
    max_promotions: int | None = 3
    """At most this many promotions per thread (None: no limit)."""
    seed: int = 0
    """Seed of the built-in, random and Optuna proposers."""
    device: str | None = None
    """Device for compute_loss (None: CUDA when present, else CPU)."""
    proposer: Any = None
    """A ready :class:`~evorec.proposers.Proposer` (Python hosts, tests); overrides ``model``."""

    @property
    def registry_path(self) -> Path:
        return Path(self.workdir) / "production.json"

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.workdir) / "offline-checkpoints.sqlite"
