"""AgenticRecTune: Actor, Critic, Online, Insight and Skill agents tuning one pipeline stage.

``setup`` (retrieve the task's skill from the Skillhub) → ``actor`` (several candidate
fusion configurations, each a delta with a hypothesis) → ``critic`` (keep or drop each by
explicit rules, with a justification) → ``review`` (optional human approval, an interrupt)
→ ``online`` (one multi-arm simulated A/B test of the survivors against the control) →
``insight`` (Pareto pruning, floors, a diverse elite set, a summary) → ``skill`` (a new skill
version: learned rules, a narrowed search space, elites) → the next ``actor``, until the
rounds or the cost budget (A/B arms) are spent.

* ``graph`` is compiled **without** a checkpointer (LangGraph's server brings its own
  persistence and store; the Skillhub uses the server's store when there is one).
* :func:`open_rectune_graph` compiles the same builder with a SQLite checkpointer and, for
  the Skillhub, a ``SqliteStore`` (or the host's store); :func:`run_rectune` runs a thread
  with synchronous durability and resumes interrupted ones.
* Host systems call :func:`build_rectune_graph` and compile it with their own checkpointer
  and store, or add the compiled graph as a subgraph node (narrow output schema: ``pareto``,
  ``arms``, ``insights``, ``skill_versions``, ``arms_used``, ``stop_reason``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from evorec.graphs import rectune_nodes as nodes
from evorec.graphs.rectune_state import RecTuneContext, RecTuneInput, RecTuneOutput, RecTuneState

__all__ = ["build_rectune_graph", "graph", "open_rectune_graph", "run_rectune", "summarise"]


def build_rectune_graph() -> StateGraph:
    """The agents' loop as an uncompiled ``StateGraph``."""
    builder = StateGraph(
        RecTuneState,
        context_schema=RecTuneContext,
        input_schema=RecTuneInput,
        output_schema=RecTuneOutput,
    )
    builder.add_node("setup", nodes.setup)
    builder.add_node("actor", nodes.actor)
    builder.add_node("critic", nodes.critic)
    builder.add_node("review", nodes.review)
    builder.add_node("online", nodes.online)
    builder.add_node("insight", nodes.insight)
    builder.add_node("skill", nodes.skill)
    builder.add_edge(START, "setup")
    builder.add_conditional_edges("setup", nodes.route_after_setup)
    builder.add_edge("actor", "critic")
    builder.add_edge("critic", "review")
    builder.add_edge("review", "online")
    builder.add_edge("online", "insight")
    builder.add_edge("insight", "skill")
    builder.add_conditional_edges("skill", nodes.route_after_skill)
    return builder


graph = build_rectune_graph().compile(name="rectune")


@contextlib.contextmanager
def open_rectune_graph(
    checkpoint_path: str | Path, *, store: Any = None, store_path: str | Path | None = None
) -> Iterator[CompiledStateGraph]:
    """The graph with a SQLite checkpointer at ``checkpoint_path`` and a Skillhub store:
    ``store`` (the host's ``BaseStore``), else a ``SqliteStore`` at ``store_path``
    (default: ``skillhub.sqlite`` next to the checkpoints)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(checkpoint_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    store_conn = None
    try:
        if store is None:
            from langgraph.store.sqlite import SqliteStore

            spath = Path(store_path) if store_path else path.parent / "skillhub.sqlite"
            spath.parent.mkdir(parents=True, exist_ok=True)
            store_conn = sqlite3.connect(str(spath), check_same_thread=False, isolation_level=None)
            store = SqliteStore(store_conn)
            store.setup()
        yield build_rectune_graph().compile(
            checkpointer=SqliteSaver(conn), store=store, name="rectune"
        )
    finally:
        conn.close()
        if store_conn is not None:
            store_conn.close()


def run_rectune(
    context: RecTuneContext,
    *,
    thread_id: str = "rectune",
    checkpoint_path: str | Path | None = None,
    resume: Any = None,
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a thread until its rounds or budget are spent, or a review interrupts.

    Returns the final state with ``summary`` (see :func:`summarise`) and, when a human
    review is waiting, ``interrupt`` (its payload: call again with ``resume=True``, ``False``
    or a list of indices). ``on_round`` gets each finished round's Insight report.
    """
    from langgraph.types import Command

    checkpoint_path = checkpoint_path or context.checkpoint_path
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 10_000}
    with open_rectune_graph(
        checkpoint_path, store=context.store, store_path=context.skillhub_path
    ) as app:
        snapshot = app.get_state(config)
        nodes.prepare(context, thread_id=thread_id)
        if resume is not None:
            payload: Any = Command(resume=resume)
        else:
            payload = None if snapshot.next else {}
        for update in app.stream(
            payload, config, context=context, durability="sync", stream_mode="updates"
        ):
            for node, values in update.items():
                if node == "insight" and on_round is not None and isinstance(values, dict):
                    for report in values.get("insights") or []:
                        on_round(report)
        state = app.get_state(config)
    result = dict(state.values)
    result["thread_id"] = thread_id
    pending = [i.value for task in state.tasks for i in (task.interrupts or ())]
    if pending:
        result["interrupt"] = pending[0]
    result["summary"] = summarise(context, result)
    return result


def summarise(context: RecTuneContext, state: dict[str, Any]) -> dict[str, Any]:
    """The run's figures: arms spent, the Pareto set with lifts, the best point, skill versions."""
    metrics = list(((state.get("skill") or {}).get("objectives") or {}).get("directions") or {})
    pareto = []
    for p in state.get("pareto") or []:
        pareto.append(
            {
                "arm": p["arm"],
                "score": p.get("score"),
                "lifts": p.get("lifts"),
                "intervals": p.get("intervals"),
                "changes_from_initial": p.get("delta_from_initial") or p.get("delta") or [],
                "status": p.get("status"),
                "hypothesis": p.get("hypothesis"),
            }
        )
    arms = state.get("arms") or []
    return {
        "thread_id": state.get("thread_id"),
        "surface": context.surface,
        "stage": context.stage,
        "rounds": int(state.get("round") or 0),
        "arms_used": int(state.get("arms_used") or 0),
        "arms_measured": sum(1 for a in arms if a.get("status") == "measured"),
        "arms_infeasible": sum(1 for a in arms if not a.get("feasible")),
        "metrics": metrics,
        "pareto": pareto,
        "best": pareto[0] if pareto else None,
        "skill_versions": list(state.get("skill_versions") or []),
        "stop_reason": state.get("stop_reason"),
        "results_path": str(context.results_path),
        "skillhub_path": str(context.skillhub_path) if context.store is None else None,
    }
