"""The online agent: each promoted candidate walks the paper's five-phase DAG.

``pick`` (PROPOSED: the journal's FIFO queue) → ``validate`` (VALIDATED) → ``train``
(TRAINING) → ``approve`` (optional human interrupt) → ``live_day`` × days (LIVE, one simulated
day per step, checkpointed) → ``complete`` (COMPLETED: north-star read-out, launch decision) or
``abort`` (guardrail breach) → back to ``pick`` until the queue is empty.

* ``graph`` is compiled **without** a checkpointer, for LangGraph's server (Studio).
* :func:`open_online_graph` compiles the same builder with a SQLite checkpointer for standalone
  runs; :func:`run_online` invokes it with synchronous durability, so a killed process resumes
  on the same thread exactly where it stopped.
* Host systems call :func:`build_online_graph` and compile it with their own checkpointer, or add
  the compiled graph as a subgraph node (its output schema is narrow: ``completed``, ``outcome``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from evorec.graphs import online_nodes as nodes
from evorec.graphs.online_state import OnlineContext, OnlineInput, OnlineOutput, OnlineState

__all__ = ["build_online_graph", "graph", "open_online_graph", "run_online"]


def build_online_graph() -> StateGraph:
    """The online phase DAG as an uncompiled ``StateGraph``."""
    builder = StateGraph(
        OnlineState,
        context_schema=OnlineContext,
        input_schema=OnlineInput,
        output_schema=OnlineOutput,
    )
    builder.add_node("ensure_production", nodes.ensure_production)
    builder.add_node("pick", nodes.pick)
    builder.add_node("validate", nodes.validate)
    builder.add_node("train", nodes.train_candidate)
    builder.add_node("approve", nodes.approve)
    builder.add_node("live_day", nodes.live_day)
    builder.add_node("complete", nodes.complete)
    builder.add_node("abort", nodes.abort)

    builder.add_edge(START, "ensure_production")
    builder.add_edge("ensure_production", "pick")
    builder.add_conditional_edges("pick", nodes.route_after_pick)
    builder.add_conditional_edges("validate", nodes.route_after_validate)
    builder.add_conditional_edges("train", nodes.route_after_train)
    builder.add_conditional_edges("approve", nodes.route_after_approve)
    builder.add_conditional_edges("live_day", nodes.route_after_live)
    builder.add_edge("complete", "pick")
    builder.add_edge("abort", "pick")
    return builder


graph = build_online_graph().compile(name="online")


@contextlib.contextmanager
def open_online_graph(checkpoint_path: str | Path) -> Iterator[CompiledStateGraph]:
    """The online graph compiled with a SQLite checkpointer at ``checkpoint_path``."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(checkpoint_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        yield build_online_graph().compile(checkpointer=SqliteSaver(conn), name="online")
    finally:
        conn.close()


def run_online(
    context: OnlineContext,
    *,
    thread_id: str = "online",
    resume: Any = None,
    checkpoint_path: str | Path | None = None,
) -> dict[str, Any]:
    """Work through the queue (or resume an interrupted thread); returns the final state.

    A thread that stopped — killed, or paused for approval — continues from its last
    checkpoint. ``resume`` answers a pending approval interrupt ("approve" or "reject").
    When the returned dict has ``__interrupt__``, the run is waiting for approval.
    """
    from langgraph.types import Command

    from evorec.graphs.online_nodes import prepare

    prepare(context)
    checkpoint_path = checkpoint_path or Path(context.workdir) / "checkpoints.sqlite"
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 10_000}
    with open_online_graph(checkpoint_path) as app:
        snapshot = app.get_state(config)
        if resume is not None:
            payload: Any = Command(resume=resume)
        elif snapshot.next:
            payload = None  # resume after a crash: continue from the last checkpoint
        else:
            payload = {}
        out = app.invoke(payload, config, context=context, durability="sync")
        state = app.get_state(config)
        result = dict(state.values)
        if state.interrupts:
            result["__interrupt__"] = [i.value for i in state.interrupts]
        elif isinstance(out, dict) and "__interrupt__" in out:
            result["__interrupt__"] = [i.value for i in out["__interrupt__"]]
        return result
