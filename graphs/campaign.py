"""The self-evolving campaign: offline rounds and online A/B tests, until the budget is spent.

``setup`` (simulate logged data if there is none; production starts from the shipped baseline
Φ and a trained model) → ``offline`` (one round of the offline agent across the personas,
against the *current* production Φ and the grown journal; winners are promoted to the online
queue) → ``online`` (the online agent works through the queue: VALIDATED → TRAINING → LIVE →
COMPLETED; launches update production) → ``check`` (budget: proxy evaluations, A/B tests,
wall time) → the next round, or ``finish`` (the report).

The offline and online graphs run as **subgraphs**: each round's node invokes the compiled
graph with its own context (:class:`OfflineContext`, :class:`OnlineContext`), inside the
campaign's run, so they share its checkpointer (in their own namespaces), its streaming and
its durability — a killed campaign resumes inside the subgraph step it was in.

* ``graph`` is compiled without a checkpointer (for LangGraph's server and Studio).
* :func:`run_campaign` compiles the builder with a SQLite checkpointer in the workdir and runs
  it with synchronous durability; ``resume=True`` continues an interrupted campaign.
"""

from __future__ import annotations

import contextlib
import operator
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from evorec.errors import ConfigError
from evorec.graphs._context import context_from

__all__ = [
    "CampaignContext",
    "CampaignOutput",
    "CampaignState",
    "build_campaign_graph",
    "graph",
    "open_campaign_graph",
    "run_campaign",
]


class CampaignState(TypedDict, total=False):
    """What the campaign carries between rounds (checkpointed after every step)."""

    round: int
    """Rounds finished (one offline round plus one online round each)."""
    proxy_evals: int
    """Offline proposals journaled so far (each is one proxy evaluation or a rejection)."""
    ab_tests: int
    """Online experiments finished so far (launched, not launched, aborted or failed)."""
    launches: Annotated[list[str], operator.add]
    """Experiment ids that became production, in order."""
    elapsed_s: float
    """Wall-clock seconds spent in the campaign's steps (resumes add to it)."""
    offline_s: float
    """Of which in offline rounds (proxy evaluations)."""
    online_s: float
    """Of which in online rounds (validation, training, A/B tests)."""
    rounds: Annotated[list[dict[str, Any]], operator.add]
    """One summary per finished round."""
    stop_reason: str | None
    """Which budget ended the campaign."""
    report: dict[str, Any] | None
    """Paths and headline of the final report."""


class CampaignInput(TypedDict, total=False):
    """Nothing is required: the settings come through the context."""

    round: int
    """Start counting rounds from here (rarely needed)."""


class CampaignOutput(TypedDict, total=False):
    """What a host gets back."""

    round: int
    """Rounds run."""
    proxy_evals: int
    """Offline proposals journaled."""
    ab_tests: int
    """Online experiments finished."""
    elapsed_s: float
    """Wall-clock seconds in the campaign's steps."""
    offline_s: float
    """Of which in offline rounds."""
    online_s: float
    """Of which in online rounds."""
    launches: list[str]
    """Experiments that became production."""
    stop_reason: str | None
    """Which budget ended the campaign."""
    report: dict[str, Any] | None
    """Paths and headline of the report."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass
class CampaignContext:
    """Campaign settings (explicit value, then EVOREC_* environment variable, then default)."""

    workdir: str = field(default_factory=lambda: _env("EVOREC_WORKDIR", "runs/campaign"))
    """Logged data, journal, production registry, artifacts, A/B states, report."""
    surface: str = field(default_factory=lambda: _env("EVOREC_SURFACE", "home_feed"))
    """Simulated surface (built-in name or a JSON/YAML file)."""
    model: str = field(default_factory=lambda: _env("EVOREC_MODEL", "builtin"))
    """Proposer: builtin | random | optuna | gemini[:model] | provider:model."""
    seed: int = 0
    """Seed of the world, the logs and the proposers."""
    log_users: int = 3000
    """Users in the simulated logged data (written once, if missing)."""
    log_days: int = 4
    """Days of simulated logged data."""
    ab_users: int = 3000
    """Users per simulated A/B test (both arms)."""
    ab_days: int = 4
    """Horizon of each A/B test in simulated days (after the pre-period)."""
    traffic_fraction: float = 0.5
    """Share of A/B users served by the candidate."""
    persona: str = "all"
    """Offline personas: optimizer | architecture | reward | all (rotating)."""
    proposals_per_round: int = 9
    """Offline proposals per round."""
    promotions_per_round: int = 2
    """At most this many proxy winners promoted to the online queue per round."""
    max_proxy_evals: int | None = 45
    """Budget: stop after this many offline proposals (None: no limit)."""
    max_ab_tests: int | None = 8
    """Budget: stop after this many A/B tests (None: no limit)."""
    max_seconds: float | None = 720.0
    """Budget: stop starting rounds after this much wall time (None: no limit)."""
    max_rounds: int | None = None
    """Budget: stop after this many rounds (None: no limit)."""
    history_mode: str = "sorted"
    """Journal history in prompts: sorted | topk | unsorted | none."""
    proxy_seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of each proxy evaluation."""
    proxy_budget: int | None = None
    """Training steps per seed in compute_loss (None: the proxy's default)."""
    approve_before_live: bool = False
    """Pause for a human approval before each LIVE phase."""

    @property
    def data_path(self) -> Path:
        return Path(self.workdir) / "logs.duckdb"

    @property
    def journal_path(self) -> Path:
        return Path(self.workdir) / "journal.duckdb"

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.workdir) / "campaign-checkpoints.sqlite"

    def validate(self) -> CampaignContext:
        """Refuse bad settings before anything is simulated or written."""
        from evorec.graphs._context import check_int
        from evorec.graphs.offline_state import PERSONA_CHOICES
        from evorec.simulator.surfaces import get_surface

        get_surface(self.surface)
        for name in ("log_users", "log_days", "ab_users", "ab_days", "proposals_per_round"):
            check_int(name, getattr(self, name), 1)
        if not 0.0 < float(self.traffic_fraction) < 1.0:
            raise ConfigError(f"traffic_fraction must lie in (0, 1), got {self.traffic_fraction}")
        if self.persona not in PERSONA_CHOICES:
            raise ConfigError(f"persona must be one of {', '.join(PERSONA_CHOICES)}")
        budgets = (self.max_proxy_evals, self.max_ab_tests, self.max_seconds, self.max_rounds)
        if all(b is None for b in budgets):
            raise ConfigError(
                "a campaign needs a budget: max_proxy_evals, max_ab_tests, max_seconds "
                "or max_rounds"
            )
        for name in ("max_proxy_evals", "max_ab_tests", "max_seconds", "max_rounds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        return self

    def offline(self, budget: int) -> Any:
        from evorec.graphs.offline_state import OfflineContext

        return OfflineContext(
            model=self.model,
            persona=self.persona,
            budget=budget,
            data_path=str(self.data_path),
            journal_path=str(self.journal_path),
            workdir=self.workdir,
            surface=self.surface,
            history_mode=self.history_mode,
            proxy_seeds=tuple(self.proxy_seeds),
            proxy_budget=self.proxy_budget,
            promote=True,
            max_promotions=self.promotions_per_round,
            seed=self.seed,
        )

    def online(self, max_experiments: int | None) -> Any:
        from evorec.graphs.online_state import OnlineContext

        return OnlineContext(
            journal_path=str(self.journal_path),
            data_path=str(self.data_path),
            workdir=self.workdir,
            surface=self.surface,
            users=self.ab_users,
            days=self.ab_days,
            traffic_fraction=self.traffic_fraction,
            seed=self.seed,
            approve_before_live=self.approve_before_live,
            max_experiments=max_experiments,
        )


def _ctx(runtime: Runtime[CampaignContext] | None) -> CampaignContext:
    return context_from(runtime, CampaignContext)


def _remaining(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)


# ----------------------------------------------------------------------------- nodes


def setup(state: CampaignState, runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Logged data (simulated once) and a trained production model to serve as control."""
    from evorec.graphs.online_nodes import ensure_production
    from evorec.simulator import simulate

    start = time.perf_counter()
    ctx = _ctx(runtime).validate()
    Path(ctx.workdir).mkdir(parents=True, exist_ok=True)
    if not ctx.data_path.exists():
        simulate(ctx.surface, ctx.log_users, ctx.log_days, ctx.seed, ctx.data_path)
    ensure_production({}, SimpleNamespace(context=ctx.online(None)))
    return {
        "round": state.get("round") or 0,
        "proxy_evals": state.get("proxy_evals") or 0,
        "ab_tests": state.get("ab_tests") or 0,
        "elapsed_s": (state.get("elapsed_s") or 0.0) + time.perf_counter() - start,
        "stop_reason": None,
    }


def offline_round(state: CampaignState, runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """One round of the offline agent (a subgraph) against the current production Φ."""
    from evorec.graphs.offline import build_offline_graph

    start = time.perf_counter()
    ctx = _ctx(runtime)
    left = _remaining(ctx.max_proxy_evals, state.get("proxy_evals") or 0)
    budget = ctx.proposals_per_round if left is None else min(ctx.proposals_per_round, left)
    if budget <= 0:
        return {}
    sub = build_offline_graph().compile(name="offline")
    out = sub.invoke({}, context=ctx.offline(budget), durability="sync") or {}
    experiments = list(out.get("experiments") or [])
    spent = time.perf_counter() - start
    return {
        "proxy_evals": (state.get("proxy_evals") or 0) + len(experiments),
        "elapsed_s": (state.get("elapsed_s") or 0.0) + spent,
        "offline_s": (state.get("offline_s") or 0.0) + spent,
        "rounds": [
            {
                "round": (state.get("round") or 0) + 1,
                "phase": "offline",
                "experiments": experiments,
                "promoted": list(out.get("promoted") or []),
            }
        ],
    }


def online_round(state: CampaignState, runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """The online agent (a subgraph) works through the queue; launches update production."""
    from evorec.graphs.online import build_online_graph
    from evorec.journal import Journal, Status

    start = time.perf_counter()
    ctx = _ctx(runtime)
    left = _remaining(ctx.max_ab_tests, state.get("ab_tests") or 0)
    if left == 0:
        return {"round": (state.get("round") or 0) + 1}
    sub = build_online_graph().compile(name="online")
    out = sub.invoke({}, context=ctx.online(left), durability="sync") or {}
    completed = list(out.get("completed") or [])
    journal = Journal(ctx.journal_path)
    launched = [e for e in completed if journal.get(e).status is Status.LAUNCHED]
    spent = time.perf_counter() - start
    return {
        "round": (state.get("round") or 0) + 1,
        "ab_tests": (state.get("ab_tests") or 0) + len(completed),
        "launches": launched,
        "elapsed_s": (state.get("elapsed_s") or 0.0) + spent,
        "online_s": (state.get("online_s") or 0.0) + spent,
        "rounds": [
            {
                "round": (state.get("round") or 0) + 1,
                "phase": "online",
                "experiments": completed,
                "launched": launched,
            }
        ],
    }


def check(state: CampaignState, runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Which budget, if any, is spent."""
    ctx = _ctx(runtime)
    reasons = []
    if ctx.max_proxy_evals is not None and (state.get("proxy_evals") or 0) >= ctx.max_proxy_evals:
        reasons.append(f"proxy-evaluation budget spent ({state.get('proxy_evals')})")
    if ctx.max_ab_tests is not None and (state.get("ab_tests") or 0) >= ctx.max_ab_tests:
        reasons.append(f"A/B-test budget spent ({state.get('ab_tests')})")
    if ctx.max_seconds is not None and (state.get("elapsed_s") or 0.0) >= ctx.max_seconds:
        reasons.append(f"wall-time budget spent ({state.get('elapsed_s'):.0f} s)")
    if ctx.max_rounds is not None and (state.get("round") or 0) >= ctx.max_rounds:
        reasons.append(f"round budget spent ({state.get('round')})")
    return {"stop_reason": "; ".join(reasons) or None}


def finish(state: CampaignState, runtime: Runtime[CampaignContext]) -> dict[str, Any]:
    """Write the report (HTML, PNG plots, Markdown) into the workdir."""
    from evorec.report import write_report

    ctx = _ctx(runtime)
    paths = write_report(ctx.journal_path, ctx.workdir, Path(ctx.workdir) / "report")
    return {"report": paths.to_dict()}


def route_after_check(state: CampaignState) -> Literal["offline", "finish"]:
    return "finish" if state.get("stop_reason") else "offline"


def build_campaign_graph() -> StateGraph:
    """The campaign as an uncompiled ``StateGraph``."""
    builder = StateGraph(
        CampaignState,
        context_schema=CampaignContext,
        input_schema=CampaignInput,
        output_schema=CampaignOutput,
    )
    builder.add_node("setup", setup)
    builder.add_node("offline", offline_round)
    builder.add_node("online", online_round)
    builder.add_node("check", check)
    builder.add_node("finish", finish)
    builder.add_edge(START, "setup")
    builder.add_edge("setup", "offline")
    builder.add_edge("offline", "online")
    builder.add_edge("online", "check")
    builder.add_conditional_edges("check", route_after_check)
    builder.add_edge("finish", END)
    return builder


graph = build_campaign_graph().compile(name="campaign")


@contextlib.contextmanager
def open_campaign_graph(checkpoint_path: str | Path) -> Iterator[CompiledStateGraph]:
    """The campaign graph compiled with a SQLite checkpointer at ``checkpoint_path``."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(checkpoint_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        yield build_campaign_graph().compile(checkpointer=SqliteSaver(conn), name="campaign")
    finally:
        conn.close()


def run_campaign(
    context: CampaignContext,
    *,
    resume: bool = False,
    thread_id: str = "campaign",
    on_event: Callable[[tuple[str, ...], str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or, with ``resume``, continue) the campaign in ``context.workdir``.

    ``on_event(namespace, node, update)`` sees every step of the campaign and of its
    subgraphs as it finishes (progress display). Without ``resume``, a workdir that already
    holds a campaign is refused, so nothing is overwritten by accident.
    """
    context.validate()
    from evorec.llm import load_proposer

    if context.model not in ("builtin", "random", "optuna"):
        load_proposer(context.model, seed=context.seed)  # a missing key fails now, not later
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 100_000}
    with open_campaign_graph(context.checkpoint_path) as app:
        snapshot = app.get_state(config)
        started = bool(snapshot.values)
        if started and not resume:
            raise ConfigError(
                f"{context.workdir} already holds a campaign; pass --resume to continue it, "
                "or choose another --workdir"
            )
        if resume and not started:
            raise ConfigError(f"no campaign to resume in {context.workdir}")
        payload = None if started else {}
        if started and not snapshot.next:
            return dict(snapshot.values)  # finished already: nothing to do
        for ns, update in app.stream(
            payload,
            config,
            context=context,
            durability="sync",
            stream_mode="updates",
            subgraphs=True,
        ):
            if on_event is None:
                continue
            for node, values in update.items():
                on_event(tuple(ns), node, values if isinstance(values, dict) else {})
        return dict(app.get_state(config).values)
