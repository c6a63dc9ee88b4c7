"""Two processes writing one journal at once lose nothing."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from evorec.journal import Journal, Status

_WRITER = """
import os, sys, time
from evorec.journal import Journal, Status
path, tag, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
journal = Journal(path)
open(go + "-" + tag, "w").close()  # ready
while not os.path.exists(go):  # start together
    time.sleep(0.005)
for i in range(n):
    rec = journal.create(
        surface="home_feed", author=tag, persona="optimizer", parent_phi_hash="p0",
        delta=[{"op": "replace", "path": "/optimizer/learning_rate", "value": 0.001 * (i + 1)}],
        hypothesis=f"{tag} {i}",
    )
    journal.transition(rec.id, Status.PROXY_BETTER if i % 2 else Status.PROXY_WORSE)
"""


def _run_two_writers(path, n: int) -> None:
    go = path.with_name("go")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), tag, str(n), str(go)], stderr=subprocess.PIPE
        )
        for tag in ("alpha", "beta")
    ]
    deadline = time.monotonic() + 120
    while not all(go.with_name(f"go-{t}").exists() for t in ("alpha", "beta")):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), (
            "writers did not start"
        )
        time.sleep(0.01)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()


def _check(path, n: int) -> None:
    journal = Journal(path)
    records = journal.records()
    assert len(records) == 2 * n
    assert len({r.id for r in records}) == 2 * n
    for tag in ("alpha", "beta"):
        mine = [r for r in records if r.author == tag]
        assert sorted(r.hypothesis for r in mine) == sorted(f"{tag} {i}" for i in range(n))
        for r in mine:
            odd = int(r.hypothesis.split()[1]) % 2
            assert r.status is (Status.PROXY_BETTER if odd else Status.PROXY_WORSE)
    events = journal.events()
    assert len(events) == 2 * 2 * n  # created and status, for every experiment
    assert [e["seq"] for e in events] == list(range(1, 2 * 2 * n + 1))
    author = {r.id: r.author for r in records}
    switches = sum(
        author[a["experiment_id"]] != author[b["experiment_id"]]
        for a, b in zip(events, events[1:], strict=False)
    )
    assert switches > 2  # the writers really interleaved
    for rec in records:
        kinds = [e["kind"] for e in events if e["experiment_id"] == rec.id]
        assert kinds == ["created", "status"]


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "journal.duckdb"
    _run_two_writers(path, 10)
    _check(path, 10)


@pytest.mark.slow
def test_two_processes_writing_100_each(tmp_path):
    path = tmp_path / "journal.duckdb"
    _run_two_writers(path, 100)
    _check(path, 100)
