"""The offline graph embedded in a host graph with its own state and checkpointer
(examples/embed_offline.py): as a subgraph node and called from a host node, the host's
accumulating lists without duplicates, the subgraph's steps in the host's checkpointer,
resume of the host thread after a crash inside the subgraph, and the script's command line."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from evorec.journal import Journal, Status

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "embed_offline.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embed_offline_example", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


example = _load_example()


@pytest.fixture(scope="module")
def outcome_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic logs whose user activity follows the like rate (the offline tests' world)."""
    from test_offline_graph import _logs_with_outcomes

    return _logs_with_outcomes(tmp_path_factory.mktemp("embed") / "logs.duckdb")


def host_context(tmp_path: Path, data: Path, **overrides: Any) -> Any:
    settings: dict[str, Any] = {
        "model": "builtin",
        "persona": "reward",  # label_correlation over SQL: no training, a few seconds
        "budget": 2,
        "data_path": str(data),
        "journal_path": str(tmp_path / "journal.duckdb"),
        "workdir": str(tmp_path / "runs"),
        "max_promotions": 1,
        "report_title": "Weekly tuning",
    }
    settings.update(overrides)
    return example.HostContext(**settings)


def _namespaces(checkpointer: Any, thread_id: str) -> set[str]:
    config = {"configurable": {"thread_id": thread_id}}
    return {c.config["configurable"]["checkpoint_ns"] for c in checkpointer.list(config)}


@pytest.mark.parametrize("style", example.STYLES)
def test_two_tasks_on_one_host_thread(tmp_path, outcome_logs, style):
    saver = InMemorySaver()
    app = example.compile_host_graph(saver, style)
    ctx = host_context(tmp_path, outcome_logs)

    first = example.run_task(app, "Beat clicks as a label.", ctx, thread_id="host")
    second = example.run_task(app, "Try again with another label.", ctx, thread_id="host")

    records = Journal(ctx.journal_path).records()
    ids = [r.id for r in records]
    # The subgraph hands back only its own run's ids: the host's reducer accumulates
    # them with no duplicates, in journal order.
    assert len(ids) == 4 == len(set(ids))
    assert first["experiments"] == ids[:2]
    assert second["experiments"] == ids
    assert second["since"] == 2
    assert {r.persona for r in records} == {"reward"}
    assert all(r.proxy_result["tool"] == "label_correlation" for r in records)
    assert all(r.status is not Status.DRAFT for r in records)
    promoted = [r.id for r in records if r.status is Status.PROPOSED]
    assert second["promoted"] == promoted
    assert len(promoted) <= 2  # max_promotions=1 per task
    assert second["last"]["experiment_id"] == ids[-1]

    # The host's own keys.
    assert second["task"] == "Try again with another label."
    assert second["plan"].startswith("2 proposal(s) by persona 'reward'")
    report = second["report"]
    assert report.startswith("# Weekly tuning\n")
    assert "proposals journaled for this task: 2" in report
    assert ids[-1] in report and ids[0] not in report.split("best:")[0]

    # The offline loop's steps were checkpointed in the host's checkpointer, under the
    # subgraph's namespace.
    namespaces = _namespaces(saver, "host")
    assert "" in namespaces
    assert any(ns.startswith("offline:") for ns in namespaces), namespaces
    history = list(app.get_state_history({"configurable": {"thread_id": "host"}}))
    assert [s.values.get("task") for s in history[:1]] == ["Try again with another label."]


def test_call_style_passes_the_task_as_steering(tmp_path, outcome_logs, monkeypatch):
    from evorec.graphs import offline_nodes

    seen: list[Any] = []
    real = offline_nodes.get_proposer

    def spy(ctx: Any, **kwargs: Any) -> Any:
        seen.append((type(ctx).__name__, ctx.steering))
        return real(ctx, **kwargs)

    monkeypatch.setattr(offline_nodes, "get_proposer", spy)
    app = example.compile_host_graph(InMemorySaver(), "call")
    example.run_task(
        app, "Prefer explicit feedback.", host_context(tmp_path, outcome_logs), thread_id="t"
    )
    assert seen and set(seen) == {("OfflineContext", "Prefer explicit feedback.")}


def test_a_crash_inside_the_subgraph_resumes_on_the_host_thread(
    tmp_path, outcome_logs, monkeypatch
):
    """The tool fails in the second iteration; invoking the host thread again (input None)
    continues the subgraph from its checkpoint: exactly the budget of records, once each."""
    import evorec.tools.data as data_tools

    real = data_tools.label_correlation
    ctx = host_context(tmp_path, outcome_logs, budget=3)
    crashed: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        done = len(Journal(ctx.journal_path).records())
        if done == 1 and not crashed:  # once, in the second iteration's tool step
            crashed.append(done)
            raise RuntimeError("worker lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(data_tools, "label_correlation", flaky)
    config = {"configurable": {"thread_id": "crash"}}
    conn = sqlite3.connect(str(tmp_path / "host.sqlite"), check_same_thread=False)
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver

        app = example.compile_host_graph(SqliteSaver(conn), "subgraph")
        with pytest.raises(RuntimeError, match="worker lost"):
            app.invoke({"task": "resume me"}, config, context=ctx)
        assert crashed and len(Journal(ctx.journal_path).records()) == 1
        assert app.get_state(config).next == ("offline",)

        state = app.invoke(None, config, context=ctx)
    finally:
        conn.close()
    ids = [r.id for r in Journal(ctx.journal_path).records()]
    assert len(ids) == 3 == len(set(ids))
    assert state["experiments"] == ids
    assert "proposals journaled for this task: 3" in state["report"]


def test_the_script_runs_and_refuses_missing_data(tmp_path, outcome_logs, capsys):
    assert example.main(["--data", str(tmp_path / "nope.duckdb")]) == 2
    assert "logged data not found" in capsys.readouterr().out

    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--data",
            str(outcome_logs),
            "--workdir",
            str(tmp_path / "w"),
            "--budget",
            "1",
            "--style",
            "call",
            "--thread",
            "cli",
            "--checkpoint",
            str(tmp_path / "host.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (record,) = Journal(tmp_path / "w" / "journal.duckdb").records()
    assert record.id in done.stdout
    assert "# Offline experiments" in done.stdout
    assert "(host thread cli, style call)" in done.stdout
    assert (tmp_path / "host.sqlite").stat().st_size > 0
