"""kill -9 right after a round's read-outs reach results.jsonl, before the checkpoint: the
resumed thread re-runs the round and writes each line once, the same lines as an
uninterrupted study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from evorec.graphs.rectune_nodes import append_results


def test_append_results_writes_each_line_once(tmp_path):
    path = tmp_path / "out" / "results.jsonl"
    arms = [{"arm": "t-r1-p0", "lifts": {"active_days": 0.01}}, {"arm": "t-r1-p1", "lifts": {}}]
    assert append_results(path, arms) == 2
    assert append_results(path, arms) == 0  # a re-run of the same round
    later = [{"arm": "t-r2-p0", "lifts": {"active_days": 0.02}}]
    assert append_results(path, arms[1:] + later) == 1
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["arm"] for line in lines] == ["t-r1-p0", "t-r1-p1", "t-r2-p0"]


def _rectune(workdir, crash_at=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOREC_CRASH")}
    if crash_at:
        env["EVOREC_CRASH_AT"] = crash_at
        env["EVOREC_CRASH_MARKER"] = str(workdir / "crashed")
    cmd = [sys.executable, "-m", "evorec.cli", "rectune", "--workdir", str(workdir)]
    cmd += ["--surface", "home_feed", "--stage", "ranking"]
    cmd += ["--rounds", "2", "--proposals", "2", "--users", "400", "--days", "1"]
    cmd += ["--thread", "t", "--seed", "3", "--json"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_crash_after_writing_results_leaves_no_duplicate_lines(tmp_path):
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    crashed.mkdir()
    first = _rectune(crashed, crash_at="rectune_results:1")
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert len((crashed / "results.jsonl").read_text().splitlines()) == 2  # round 1's arms
    resumed = _rectune(crashed)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _rectune(clean).returncode == 0
    lines = (crashed / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(set(lines)) == 4
    assert lines == (clean / "results.jsonl").read_text().splitlines()
