"""Embed evorec's offline agent in a host LangGraph graph that has its own state.

The host is a tiny "ML platform" workflow: ``plan`` reads a task written by a person,
``offline`` runs evorec's offline loop (the personas' think-code-verify loop against cheap
proxies), ``report`` turns the journaled experiments into a short Markdown report. The host
compiles everything with **its own checkpointer** (in memory, or SQLite with ``--checkpoint``),
so the offline loop's steps are checkpointed inside the host's thread, as a subgraph.

Two ways to embed, picked with ``--style``:

``subgraph`` (default)
    The compiled offline graph is added directly as a node. It reads only its narrow input
    (``iteration``) from the host's state and writes back only its narrow output
    (``experiments``, ``promoted``, ``last``), so the host may even keep an accumulating list
    under the same key without duplicates. A subgraph node shares the host's run-time context,
    so the host's context is an :class:`OfflineContext` subclass with the host's own settings.

``call``
    A host node invokes the compiled offline graph with an explicit :class:`OfflineContext`
    built from the host's own context and state (here the task becomes the proposers'
    steering). The call still runs as a subgraph of the host: same thread, same checkpointer.

Run it (logged data from ``evorec simulate``)::

    python examples/embed_offline.py --data runs/logs.duckdb --budget 3 --persona reward \\
        --task "Find a label that tracks long-term satisfaction better than clicks."
"""

from __future__ import annotations

import argparse
import json
import operator
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from evorec.graphs.offline import graph as offline_graph
from evorec.graphs.offline import summarise
from evorec.graphs.offline_state import OfflineContext

__all__ = ["HostContext", "HostState", "build_host_graph", "main", "run_task"]

STYLES = ("subgraph", "call")


class HostState(TypedDict, total=False):
    """The host's own state; only the three offline keys are shared with the subgraph."""

    task: str
    """What a person asked the platform to do."""
    plan: str
    """The host's note on how it will spend the offline budget."""
    since: int
    """How many of ``experiments`` earlier tasks on this thread journaled."""
    experiments: Annotated[list[str], operator.add]
    """Every experiment the offline loop journaled for this host thread (accumulates)."""
    promoted: Annotated[list[str], operator.add]
    """Experiments promoted to the online queue for this host thread (accumulates)."""
    last: dict[str, Any] | None
    """The offline loop's last finished iteration."""
    report: str
    """Markdown report of the last task."""


@dataclass
class HostContext(OfflineContext):
    """The host's run-time settings: the offline loop's settings plus the host's own."""

    report_title: str = "Offline experiments"
    """Heading of the report."""


def plan(state: HostState, runtime: Runtime[HostContext]) -> dict[str, Any]:
    """Write down how the task will be worked on (a real host might route or ask a person)."""
    ctx = runtime.context
    task = state.get("task") or "improve the ranker"
    return {
        "plan": f"{ctx.budget} proposal(s) by persona {ctx.persona!r} for: {task}",
        "since": len(state.get("experiments") or []),
    }


def call_offline(state: HostState, runtime: Runtime[HostContext]) -> dict[str, Any]:
    """Run the offline graph with an explicit context built from the host's settings.

    Invoked inside a node, the compiled graph runs as a subgraph of the host's run (it
    inherits the host's thread and checkpointer); the context given here replaces the host's.
    """
    host = runtime.context
    settings = {
        name: getattr(host, name)
        for name in OfflineContext.__dataclass_fields__
        if name in host.__dataclass_fields__
    }
    settings["steering"] = state.get("task") or host.steering
    out = offline_graph.invoke({}, context=OfflineContext(**settings))
    return {
        "experiments": list(out.get("experiments") or []),
        "promoted": list(out.get("promoted") or []),
        "last": out.get("last"),
    }


def report(state: HostState, runtime: Runtime[HostContext]) -> dict[str, Any]:
    """Summarise the task's experiments from the Experiment Journal as Markdown."""
    ctx = runtime.context
    last = state.get("last") or {}
    # This task's experiments: those after the ones earlier tasks on the thread journaled.
    ids = list(state.get("experiments") or [])[int(state.get("since") or 0) :]
    promoted = [i for i in state.get("promoted") or [] if i in set(ids)]
    summary = summarise(ctx, {"experiments": ids, "promoted": promoted})
    best = summary["best"]
    lines = [
        f"# {ctx.report_title}",
        "",
        f"Task: {state.get('task', '')}",
        f"Plan: {state.get('plan', '')}",
        "",
        f"- proposals journaled for this task: {summary['proposals']}",
        f"- by status: {json.dumps(summary['by_status'], sort_keys=True)}",
        f"- promoted to the online queue: {len(summary['promoted'])}",
        f"- last iteration: {last.get('experiment_id')} ({last.get('status')})",
    ]
    if best is None:
        lines.append("- best: none scored")
    else:
        lines.append(
            f"- best: {best['experiment_id']} ({best['persona']}, {best['status']}) "
            f"improvement {best['improvement']:+.4g}: {best['hypothesis']}"
        )
    return {"report": "\n".join(lines) + "\n"}


def build_host_graph(style: str = "subgraph") -> StateGraph:
    """The host workflow, uncompiled: ``plan → offline → report``."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r} (expected one of {', '.join(STYLES)})")
    builder = StateGraph(HostState, context_schema=HostContext)
    builder.add_node("plan", plan)
    builder.add_node("offline", offline_graph if style == "subgraph" else call_offline)
    builder.add_node("report", report)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "offline")
    builder.add_edge("offline", "report")
    builder.add_edge("report", END)
    return builder


def compile_host_graph(
    checkpointer: BaseCheckpointSaver, style: str = "subgraph"
) -> CompiledStateGraph:
    """The host workflow compiled with the host's own checkpointer."""
    return build_host_graph(style).compile(checkpointer=checkpointer, name=f"host-{style}")


def run_task(
    app: CompiledStateGraph, task: str, context: HostContext, *, thread_id: str
) -> dict[str, Any]:
    """Run one task on the host thread ``thread_id``; returns the host's final state."""
    config = {"configurable": {"thread_id": thread_id}}
    return app.invoke({"task": task}, config, context=context)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="logged data (DuckDB from evorec simulate)")
    parser.add_argument("--workdir", default="runs/embed", help="production registry lives here")
    parser.add_argument("--journal", default=None, help="journal (default: WORKDIR/journal.duckdb)")
    parser.add_argument("--task", default="Find a ranker change that raises long-term engagement.")
    parser.add_argument("--persona", default="reward", help="optimizer|architecture|reward|all")
    parser.add_argument("--budget", type=int, default=2, help="proposals per task")
    parser.add_argument("--model", default="builtin", help="proposer back-end (builtin, random...)")
    parser.add_argument("--style", choices=STYLES, default="subgraph")
    parser.add_argument("--thread", default=None, help="host thread id (default: a new one)")
    parser.add_argument("--checkpoint", default=None, help="SQLite checkpoints (default: memory)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if not Path(args.data).is_file():
        print(f"error: logged data not found: {args.data} (run `evorec simulate` first)")
        return 2
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    context = HostContext(
        model=args.model,
        persona=args.persona,
        budget=args.budget,
        data_path=str(args.data),
        journal_path=str(args.journal or workdir / "journal.duckdb"),
        workdir=str(workdir),
        max_promotions=1,
    )
    thread_id = args.thread or f"host-{uuid.uuid4().hex[:8]}"
    if args.checkpoint:
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(args.checkpoint, check_same_thread=False)
        checkpointer: BaseCheckpointSaver = SqliteSaver(conn)
    else:
        from langgraph.checkpoint.memory import InMemorySaver

        conn, checkpointer = None, InMemorySaver()
    try:
        from evorec.errors import EvorecError

        app = compile_host_graph(checkpointer, args.style)
        try:
            state = run_task(app, args.task, context, thread_id=thread_id)
        except EvorecError as exc:
            print(f"error: {exc}")
            return 2
    finally:
        if conn is not None:
            conn.close()
    print(state["report"], end="")
    print(f"(host thread {thread_id}, style {args.style})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
