"""The offline agent: the personas' think-code-verify loop against cheap proxies.

``setup`` → ``think`` (hypothesis) → ``code`` (delta, structured output) → ``verify`` (apply,
validate, lint; a bounded repair loop back to ``code`` shows the proposer its own error) →
``tool`` (``compute_loss`` for the Optimizer and Architecture personas, ``label_correlation``
over guarded SQL for the Reward persona) → ``judge`` (significantly better than production?)
→ ``journal`` (one Experiment Journal record per proposal) → ``promote`` (a proxy winner joins
the online queue) → the next ``think``, until the budget of proposals is spent. A proposal
still invalid after ``max_repairs`` goes straight to ``journal`` as REJECTED.

* ``graph`` is compiled **without** a checkpointer, for LangGraph's server (Studio).
* :func:`open_offline_graph` compiles the same builder with a SQLite checkpointer for
  standalone runs; :func:`run_offline` invokes it with synchronous durability, so a killed
  process resumes on the same thread where it stopped, with no duplicate journal records.
* Host systems call :func:`build_offline_graph` and compile it with their own checkpointer,
  or add the compiled graph as a subgraph node (its output schema is narrow: ``experiments``,
  ``promoted``, ``last``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from evorec.graphs import offline_nodes as nodes
from evorec.graphs.offline_state import OfflineContext, OfflineInput, OfflineOutput, OfflineState

__all__ = ["build_offline_graph", "graph", "open_offline_graph", "run_offline", "summarise"]


def build_offline_graph() -> StateGraph:
    """The offline loop as an uncompiled ``StateGraph``."""
    builder = StateGraph(
        OfflineState,
        context_schema=OfflineContext,
        input_schema=OfflineInput,
        output_schema=OfflineOutput,
    )
    builder.add_node("setup", nodes.setup)
    builder.add_node("think", nodes.think)
    builder.add_node("code", nodes.code)
    builder.add_node("verify", nodes.verify)
    builder.add_node("tool", nodes.tool)
    builder.add_node("judge", nodes.judge)
    builder.add_node("journal", nodes.journal)
    builder.add_node("promote", nodes.promote)

    builder.add_edge(START, "setup")
    builder.add_conditional_edges("setup", nodes.route_after_setup)
    builder.add_conditional_edges("think", nodes.route_after_think)
    builder.add_conditional_edges("code", nodes.route_after_code)
    builder.add_conditional_edges("verify", nodes.route_after_verify)
    builder.add_conditional_edges("tool", nodes.route_after_tool)
    builder.add_edge("judge", "journal")
    builder.add_conditional_edges("journal", nodes.route_after_journal)
    builder.add_conditional_edges("promote", nodes.route_after_promote)
    return builder


graph = build_offline_graph().compile(name="offline")


@contextlib.contextmanager
def open_offline_graph(checkpoint_path: str | Path) -> Iterator[CompiledStateGraph]:
    """The offline graph compiled with a SQLite checkpointer at ``checkpoint_path``."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(checkpoint_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        yield build_offline_graph().compile(checkpointer=SqliteSaver(conn), name="offline")
    finally:
        conn.close()


def run_offline(
    context: OfflineContext,
    *,
    thread_id: str = "offline",
    checkpoint_path: str | Path | None = None,
    on_iteration: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Spend the thread's budget of proposals (or resume an interrupted thread).

    Returns the final state with a ``summary`` (see :func:`summarise`). A thread that
    stopped — killed, or an exception in a node — continues from its last checkpoint; a
    finished thread given a larger ``budget`` goes on to it. ``on_iteration`` is called with
    each finished iteration's summary (the state's ``last``), promotions included.
    """
    checkpoint_path = checkpoint_path or context.checkpoint_path
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": 10_000}
    with open_offline_graph(checkpoint_path) as app:
        snapshot = app.get_state(config)
        iteration = int((snapshot.values or {}).get("iteration") or 0)
        nodes.prepare(context, thread_id=thread_id, iteration=iteration)
        payload = None if snapshot.next else {}
        for update in app.stream(
            payload, config, context=context, durability="sync", stream_mode="updates"
        ):
            for node, values in update.items():
                last = (values or {}).get("last") if isinstance(values, dict) else None
                if on_iteration is None or not last or node not in ("journal", "promote"):
                    continue
                # A winner on its way to promotion is reported once, by promote.
                if node == "journal" and "promote" in (app.get_state(config).next or ()):
                    continue
                on_iteration(last)
        state = app.get_state(config)
    result = dict(state.values)
    result["thread_id"] = thread_id
    result["summary"] = summarise(context, result)
    return result


def summarise(context: OfflineContext, state: dict[str, Any]) -> dict[str, Any]:
    """The run's figures from the journal: counts by status, the best improvement, promotions."""
    from evorec.journal import Journal

    ids = list(state.get("experiments") or [])
    wanted = set(ids)
    records = [r for r in Journal(context.journal_path).records() if r.id in wanted]
    by_status: dict[str, int] = {}
    for record in records:
        by_status[record.status.value] = by_status.get(record.status.value, 0) + 1
    scored = [r for r in records if r.improvement is not None]
    best = max(scored, key=lambda r: r.improvement) if scored else None
    return {
        "thread_id": state.get("thread_id"),
        "proposals": len(ids),
        "budget": context.budget,
        "by_status": by_status,
        "promoted": list(state.get("promoted") or []),
        "best": None
        if best is None
        else {
            "experiment_id": best.id,
            "persona": best.persona,
            "improvement": best.improvement,
            "status": best.status.value,
            "hypothesis": best.hypothesis,
        },
    }
