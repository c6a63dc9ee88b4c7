"""kill -9 during TRAINING and during LIVE: the same thread resumes where it was.

Each scenario runs `evorec online` in a subprocess that SIGKILLs itself at a named crash
point (evorec.faults), then runs the same command again on the same checkpoint thread.
Afterwards the experiment has exactly one outcome in the journal, one artifact, and at most
one production launch — and the LIVE read-out equals an uninterrupted run's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest
from _candidates import BETTER

from evorec.graphs.online_queue import propose_candidate
from evorec.journal import TERMINAL, Journal
from evorec.production import ProductionRegistry

pytestmark = pytest.mark.slow


def _online(root, workdir, journal, crash_at=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOREC_CRASH")}
    if crash_at:
        env["EVOREC_CRASH_AT"] = crash_at
        env["EVOREC_CRASH_MARKER"] = str(workdir / "crashed")
    cmd = [
        sys.executable,
        "-m",
        "evorec.cli",
        "online",
        "--journal",
        str(journal),
        "--data",
        str(root / "logs.duckdb"),
        "--workdir",
        str(workdir),
        "--users",
        "1500",
        "--days",
        "3",
        "--seed",
        "1",
        "--thread",
        "t",
        "--json",
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _setup(online_world, tmp_path, name, experiment_id=None):
    workdir = tmp_path / name
    shutil.copytree(online_world / "template", workdir)
    journal = tmp_path / f"{name}.duckdb"
    if experiment_id is None:
        rec = propose_candidate(journal, BETTER, "likes", surface="home_feed", workdir=workdir)
        return workdir, journal, rec["id"]
    # The same experiment id (it salts the A/B assignment) in a fresh journal.
    production = ProductionRegistry(workdir / "production.json").current()
    Journal(journal).create(
        surface="home_feed",
        author="human",
        parent_phi_hash=production.phi_hash,
        delta=BETTER,
        hypothesis="likes",
        status="PROPOSED",
        experiment_id=experiment_id,
    )
    return workdir, journal, experiment_id


def _check_single_outcome(workdir, journal, exp):
    j = Journal(journal)
    rec = j.get(exp)
    assert rec.status in TERMINAL
    terminal_events = [
        e
        for e in j.events(exp)
        if e["kind"] == "status" and e["to_status"] in {s.value for s in TERMINAL}
    ]
    assert len(terminal_events) == 1
    artifacts = [p for p in (workdir / "artifacts" / exp).iterdir()]
    assert len(artifacts) == 1 and not artifacts[0].name.startswith(".")
    launches = [
        r
        for r in ProductionRegistry(workdir / "production.json").history()
        if r.experiment_id == exp
    ]
    assert len(launches) == (1 if rec.status.value == "LAUNCHED" else 0)
    return rec


@pytest.mark.parametrize("crash_at, phase", [("after_export", "TRAINING"), ("live_day:2", "LIVE")])
def test_kill_9_then_resume(online_world, tmp_path, crash_at, phase):
    workdir, journal, exp = _setup(online_world, tmp_path, "crash")
    first = _online(online_world, workdir, journal, crash_at)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert (workdir / "crashed").exists()
    assert Journal(journal).get(exp).status.value == phase

    second = _online(online_world, workdir, journal, crash_at)
    assert second.returncode == 0, second.stderr[-2000:]
    rec = _check_single_outcome(workdir, journal, exp)

    if phase == "LIVE":
        # Resumed days give the same read-out as a run that was never interrupted.
        clean_dir, clean_journal, clean_exp = _setup(online_world, tmp_path, "clean", exp)
        assert _online(online_world, clean_dir, clean_journal).returncode == 0
        clean = Journal(clean_journal).get(clean_exp)
        assert clean.status is rec.status
        assert clean.online_result["ab"]["metrics"] == rec.online_result["ab"]["metrics"]
