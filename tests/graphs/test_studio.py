"""LangGraph Studio: ``langgraph.json`` names the offline, online, campaign and rectune graphs, and
``langgraph dev`` serves them — a run through the ``langgraph-sdk`` client with settings in
the run's context, then the thread's state and history read back."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evorec.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "langgraph.json"
GRAPHS = ("offline", "online", "campaign", "rectune")


def test_langgraph_json_names_compiled_graphs_without_checkpointers():
    config = json.loads(CONFIG.read_text())
    assert set(config["graphs"]) == set(GRAPHS)
    assert config["dependencies"] == ["."]
    for name, spec in config["graphs"].items():
        module_name, _, attr = spec.partition(":")
        assert module_name == f"evorec.graphs.{name}" and attr == "graph", spec
        compiled = getattr(importlib.import_module(module_name), attr)
        assert compiled.name == name
        # The server refuses a graph that brings its own checkpointer.
        assert compiled.checkpointer is None
        assert compiled.context_schema is not None  # Studio's settings form


# ------------------------------------------------------------------- the dev server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _langgraph_cli() -> str:
    beside = Path(sys.executable).parent / "langgraph"
    found = str(beside) if beside.exists() else shutil.which("langgraph")
    if found is None:  # the test extra installs it: missing means a broken install
        pytest.fail("the langgraph CLI is not installed (pip install -e '.[test]')")
    return found


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture()
def dev_server(tmp_path: Path) -> Iterator[str]:
    """``langgraph dev`` on a free port (its in-memory store under tmp_path); stopped after."""
    import langgraph_api  # noqa: F401  (the test extra installs langgraph-cli[inmem])

    cli = _langgraph_cli()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "LANGSMITH_TRACING": "false",
    }
    log_path = tmp_path / "langgraph-dev.log"
    command = [cli, "dev", "--config", str(CONFIG), "--port", str(port)]
    command += ["--host", "127.0.0.1", "--no-browser", "--no-reload"]
    with open(log_path, "wb") as log:
        # Its own process group, so the server and its workers stop together.
        proc = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"langgraph dev did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def outcome_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic logs whose user activity follows the like rate (the offline tests' world)."""
    from test_offline_graph import _logs_with_outcomes

    return _logs_with_outcomes(tmp_path_factory.mktemp("studio") / "logs.duckdb")


@pytest.mark.slow
def test_langgraph_dev_serves_the_graphs(dev_server, outcome_logs, tmp_path):
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=dev_server)
    assistants = {a["graph_id"]: a["assistant_id"] for a in client.assistants.search()}
    assert set(GRAPHS) <= set(assistants)
    schemas = client.assistants.get_schemas(assistants["offline"])
    assert {"budget", "persona", "data_path", "journal_path"} <= set(
        schemas["context_schema"]["properties"]
    )
    assert set(schemas["output_schema"]["properties"]) == {"experiments", "promoted", "last"}

    # Settings travel in the run's context as JSON, as Studio sends them.
    context: dict[str, Any] = {
        "model": "builtin",
        "persona": "reward",  # label_correlation over SQL: no training
        "budget": 2,
        "data_path": str(outcome_logs),
        "journal_path": str(tmp_path / "journal.duckdb"),
        "workdir": str(tmp_path / "runs"),
        "max_promotions": 1,
        "proxy_seeds": [0, 1],
    }
    thread = client.threads.create()
    out = client.runs.wait(thread["thread_id"], "offline", input={}, context=context)

    records = Journal(tmp_path / "journal.duckdb").records()
    ids = [r.id for r in records]
    assert len(ids) == 2 and out["experiments"] == ids
    assert out["promoted"] == [r.id for r in records if r.status.value == "PROPOSED"]
    assert out["last"]["experiment_id"] == ids[-1]

    state = client.threads.get_state(thread["thread_id"])
    assert state["next"] == []
    assert state["values"]["experiments"] == ids
    assert state["values"]["iteration"] == 2
    assert state["values"]["last"]["tool"] == "label_correlation"

    history = client.threads.get_history(thread["thread_id"], limit=200)
    assert history[0]["checkpoint_id"] == state["checkpoint_id"]  # newest first
    assert history[-1]["metadata"]["source"] == "input"
    steps = [h["metadata"]["step"] for h in history]
    assert steps == sorted(steps, reverse=True)
    visited = {node for h in history for node in h["next"]}
    assert {"setup", "think", "code", "verify", "tool", "judge", "journal"} <= visited
    # Each journal step of the history added exactly one experiment.
    counts = sorted({len(h["values"].get("experiments") or []) for h in history})
    assert counts == [0, 1, 2]

    # A bad setting fails the run with the project's error and its explanation (the server
    # hides the message of exceptions that are not built-in types), and the server stays up.
    bad = client.threads.create()
    with pytest.raises(Exception, match="ConfigError: unknown persona 'x'"):
        client.runs.wait(bad["thread_id"], "offline", input={}, context={**context, "persona": "x"})
    bad = client.threads.create()
    with pytest.raises(Exception, match="ConfigError: .*users"):
        client.runs.wait(bad["thread_id"], "online", input={}, context={"users": -5})
    assert _ready(dev_server)
