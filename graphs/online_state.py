"""State and run-time context of the online agent (the five-phase experiment DAG)."""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from typing_extensions import TypedDict

__all__ = ["DEFAULT_GUARDRAILS", "OnlineContext", "OnlineInput", "OnlineOutput", "OnlineState"]

#: Guardrails checked every simulated day of a LIVE experiment: metric → largest tolerated
#: relative drop of the treatment against the control (0.10 = 10 %).
DEFAULT_GUARDRAILS: dict[str, float] = {
    "daily_active_rate": 0.10,
    "daily_satisfaction": 0.15,
}


class OnlineState(TypedDict, total=False):
    """What the online agent carries between phases (checkpointed after every step)."""

    experiment_id: str | None
    """The experiment in flight; None between experiments."""
    phase: str
    """Last phase reached by the experiment in flight (mirrors its journal status)."""
    candidate_phi: dict[str, Any] | None
    """Production Φ with the experiment's delta applied (JSON form), set by VALIDATED."""
    control_phi_hash: str | None
    """Hash of the production Φ the candidate was built on and is compared against."""
    control_artifact: str | None
    """Artifact serving the control arm (current production model)."""
    artifact: str | None
    """The candidate's trained, hash-verified artifact, set by TRAINING."""
    day: int
    """Simulated days of the LIVE A/B completed so far."""
    ab_state: str | None
    """File holding the A/B experiment's state after the last completed day."""
    ab_result: dict[str, Any] | None
    """The A/B read-out once the experiment ended (horizon reached or aborted)."""
    live: str | None
    """LIVE progress after the last day: running, done (horizon reached) or aborted."""
    approved: bool | None
    """Human approval before LIVE (None when not asked)."""
    outcome: dict[str, Any] | None
    """Read-out and decision of the experiment that just finished."""
    completed: Annotated[list[str], operator.add]
    """Experiment ids this run has finished (launched, not launched, aborted or failed)."""


class OnlineInput(TypedDict, total=False):
    """What a caller may pass in: nothing is required (the queue lives in the journal)."""

    completed: list[str]
    """Ids already handled (rarely needed)."""


class OnlineOutput(TypedDict, total=False):
    """What the graph hands back to a host: the finished experiments and the last outcome."""

    completed: list[str]
    """Experiment ids finished in this run."""
    outcome: dict[str, Any] | None
    """Read-out and decision of the last experiment."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass
class OnlineContext:
    """Run-time settings (explicit value, then EVOREC_* environment variable, then default)."""

    journal_path: str = field(default_factory=lambda: _env("EVOREC_JOURNAL", "runs/journal.duckdb"))
    """Experiment Journal (DuckDB) holding the queue."""
    data_path: str = field(default_factory=lambda: _env("EVOREC_DATA", "runs/logs.duckdb"))
    """Logged data (from `evorec simulate`) used for training."""
    workdir: str = field(default_factory=lambda: _env("EVOREC_WORKDIR", "runs"))
    """Artifacts, A/B state files and the production registry live here."""
    surface: str = field(default_factory=lambda: _env("EVOREC_SURFACE", "home_feed"))
    """Simulated surface the A/B tests run on."""
    users: int = 2000
    """Simulated users per A/B test (both arms together)."""
    days: int = 10
    """A/B horizon in simulated days; the north star is read after it."""
    traffic_fraction: float = 0.5
    """Share of users served by the candidate."""
    seed: int = 0
    """Seed of the simulated world of each A/B test."""
    train_steps: int | None = None
    """Training steps for TRAINING (None: Φ's own training budget)."""
    min_impressions: int = 10_000
    """VALIDATED refuses to spend training with less logged data than this."""
    guardrails: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_GUARDRAILS))
    """Daily guardrails: metric → largest tolerated relative drop vs control."""
    alpha: float = 0.05
    """Significance level of the launch decision."""
    approve_before_live: bool = False
    """Pause for a human approval (an interrupt) before each LIVE phase."""
    max_experiments: int | None = None
    """Stop after this many experiments (None: until the queue is empty)."""
    srm_injection: float = 0.0
    """Fault injection for tests: this share of treatment users is moved to control (an
    assignment bug the SRM check must catch). Always 0 in real runs."""

    @property
    def registry_path(self) -> Path:
        return Path(self.workdir) / "production.json"

    @property
    def artifacts_dir(self) -> Path:
        return Path(self.workdir) / "artifacts"

    @property
    def ab_dir(self) -> Path:
        return Path(self.workdir) / "ab"
