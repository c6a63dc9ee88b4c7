"""State and run-time context of AgenticRecTune (Actor → Critic → review → Online → Insight → Skill)."""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from typing_extensions import TypedDict

__all__ = ["STAGE_CHOICES", "RecTuneContext", "RecTuneInput", "RecTuneOutput", "RecTuneState"]

#: Stages a run can tune.
STAGE_CHOICES = ("pre-ranking", "ranking", "re-ranking")


class RecTuneState(TypedDict, total=False):
    """What the agents carry between nodes (checkpointed after every step)."""

    round: int
    """Rounds finished so far (one round: propose, critique, test, learn)."""
    arms_used: int
    """Treatment arms (A/B tests) spent so far; the cost budget counts these."""
    skill: dict[str, Any] | None
    """The task's skill as the run sees it now (JSON of :class:`~evorec.rectune.Skill`)."""
    skill_versions: Annotated[list[int], operator.add]
    """Skillhub versions this run wrote, in order."""
    base_config: dict[str, Any] | None
    """The configuration this round's deltas are written against (the best so far)."""
    base_score: float
    """The objectives' score of ``base_config`` (0 for the initial configuration)."""
    base_arm: str
    """Arm id of ``base_config`` (``initial`` or an elite's)."""
    retests: list[dict[str, Any]]
    """Elites carried over from an earlier run, queued for a fresh re-test in the next
    experiment (round 1 of a warm run): ``arm``, ``config``, ``delta``, ``hypothesis``,
    ``score`` (the stale one). Each re-test costs one treatment arm of the budget."""
    proposals: list[dict[str, Any]]
    """This round's proposals: ``hypothesis``, ``delta``, ``meta``."""
    verdicts: list[dict[str, Any]]
    """The Critic's verdict per proposal: ``index``, ``kept``, ``rule``, ``justification``."""
    approved: list[int] | None
    """Indices of proposals cleared to go live (after the optional human review)."""
    review: dict[str, Any] | None
    """The human review's answer, when one was asked."""
    arms: Annotated[list[dict[str, Any]], operator.add]
    """Every tested arm of the run with its A/B evidence (also in ``results.jsonl``)."""
    experiments: Annotated[list[dict[str, Any]], operator.add]
    """One summary per multi-arm experiment (seed, salt, arms, dropped, valid)."""
    insights: Annotated[list[dict[str, Any]], operator.add]
    """The Insight agent's report per round (summary, pruned, infeasible)."""
    pareto: list[dict[str, Any]]
    """The run's Pareto set so far (best score first), each point with its A/B evidence."""
    feedback: list[str]
    """The Critic's justifications for the last round's dropped proposals (for the Actor)."""
    error: str | None
    """The last node's error (the Actor's, e.g. a model that gave no usable answer)."""
    stop_reason: str | None
    """Why the run ended: ``rounds`` or ``budget``."""


class RecTuneInput(TypedDict, total=False):
    """What a caller may pass in: nothing is required (settings come through the context)."""

    round: int
    """Start counting rounds from here (rarely needed)."""


class RecTuneOutput(TypedDict, total=False):
    """What the graph hands back to a host: the Pareto set with evidence, and the history."""

    pareto: list[dict[str, Any]]
    """The Pareto set, best score first, with each point's A/B evidence."""
    arms: list[dict[str, Any]]
    """Every tested arm."""
    insights: list[dict[str, Any]]
    """The Insight agent's report per round."""
    skill_versions: list[int]
    """Skillhub versions written."""
    arms_used: int
    """A/B arms spent."""
    stop_reason: str | None
    """Why the run ended."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass
class RecTuneContext:
    """Run-time settings (explicit value, then EVOREC_* environment variable, then default)."""

    surface: str = field(default_factory=lambda: _env("EVOREC_SURFACE", "home_feed"))
    """Simulated surface whose pipeline is tuned."""
    stage: str = "ranking"
    """Pipeline stage tuned: pre-ranking | ranking | re-ranking."""
    rounds: int = 3
    """Rounds of propose → critique → A/B test → learn."""
    proposals: int = 4
    """Candidates the Actor proposes per round (at most this many arms per experiment)."""
    budget: int | None = None
    """Cost budget: treatment arms in all (None: the objectives' budget, else rounds × proposals)."""
    users: int = 3000
    """Users of each simulated multi-arm experiment."""
    days: int = 3
    """Experiment days of each simulated experiment (after the pre-period)."""
    pre_days: int | None = 1
    """Pre-period days (CUPED covariates; None: the surface's default)."""
    model: str = field(default_factory=lambda: _env("EVOREC_MODEL", "builtin"))
    """Actor back-end: builtin | random | optuna | gemini[:model] | provider:model."""
    objectives: Any = None
    """:class:`~evorec.rectune.Objectives` or its dict (None: the stored skill's, else defaults)."""
    workdir: str = field(default_factory=lambda: _env("EVOREC_WORKDIR", "runs/rectune"))
    """Holds ``results.jsonl``, ``skillhub.sqlite`` and the checkpoints."""
    use_skillhub: bool = True
    """Start from the task's stored skill (False: a freshly seeded one; results still stored)."""
    save_skills: bool = True
    """Write a new skill version after every round."""
    review: bool = False
    """Ask a human (a LangGraph interrupt) before each experiment goes live."""
    min_distance: float = 0.05
    """The Critic's diversity rule: least distance between kept proposals (share of range)."""
    llm_critic: bool = False
    """With a chat model, also ask it as the Critic (it may only drop more)."""
    guardrails: tuple[Any, ...] = ()
    """Daily guardrails of the experiments (``Guardrail`` or dicts); a breaching arm is dropped."""
    seed: int = 0
    """Seed of the experiments and of the built-in, random and Optuna back-ends."""
    max_elites: int = 5
    """Elite configurations the Insight agent keeps (a diverse subset of the Pareto set)."""
    retest_elites: int = 1
    """Carried elites (best score first) re-tested in round 1 of a warm run, as arms of its
    experiment against the control; each takes one of that round's ``proposals`` slots and
    one arm of the budget. 0: none (carried evidence is then only shown to the Actor)."""
    store: Any = None
    """A LangGraph ``BaseStore`` for the Skillhub (None: the graph's store, else SQLite)."""
    proposer: Any = None
    """A ready :class:`~evorec.rectune.FusionProposer` (Python hosts, tests); overrides ``model``."""
    chat_model: Any = None
    """A ready chat model for the Insight/Critic agents (tests); else from ``model`` if an LLM."""

    @property
    def results_path(self) -> Path:
        return Path(self.workdir) / "results.jsonl"

    @property
    def skillhub_path(self) -> Path:
        return Path(self.workdir) / "skillhub.sqlite"

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.workdir) / "rectune-checkpoints.sqlite"
