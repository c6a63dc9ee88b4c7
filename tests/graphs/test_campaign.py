"""The campaign: both loops end to end, budgets, resume after kill -9, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from evorec.cli import main
from evorec.graphs.campaign import CampaignContext, build_campaign_graph
from evorec.journal import Journal
from evorec.production import ProductionRegistry

_SMALL = [
    "--log-users",
    "600",
    "--log-days",
    "2",
    "--ab-users",
    "1500",
    "--ab-days",
    "2",
    "--budget-proxy",
    "6",
    "--proposals-per-round",
    "3",
    "--budget-ab",
    "2",
    "--budget-minutes",
    "20",
]


def _queue_human_candidate(workdir):
    """A person's candidate waits in the queue, so round 1 has an A/B test for certain."""
    from _candidates import BETTER

    from evorec.graphs.online_queue import propose_candidate

    workdir.mkdir(parents=True, exist_ok=True)
    propose_candidate(
        workdir / "journal.duckdb", BETTER, "train on likes", surface="home_feed", workdir=workdir
    )


def _campaign(workdir, *extra, crash_at=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVOREC_CRASH")}
    if crash_at:
        env["EVOREC_CRASH_AT"] = crash_at
        env["EVOREC_CRASH_MARKER"] = str(workdir.parent / f"{workdir.name}.crash-marker")
    cmd = [
        sys.executable,
        "-m",
        "evorec.cli",
        "campaign",
        "--workdir",
        str(workdir),
        *_SMALL,
        "--json",
        *extra,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def test_campaign_graph_composes_offline_and_online():
    mermaid = build_campaign_graph().compile().get_graph().draw_mermaid()
    for node in ("setup", "offline", "online", "check", "finish"):
        assert node in mermaid
    assert "check -.-> offline" in mermaid  # the next round starts from the new production


def test_bad_settings_are_refused_before_anything_is_written(tmp_path):
    run = CliRunner().invoke
    res = run(main, ["campaign", "--workdir", str(tmp_path / "w"), "--surface", "nope"])
    assert res.exit_code == 2 and "unknown surface" in res.output
    res = run(main, ["campaign", "--workdir", str(tmp_path / "w"), "--resume"])
    assert res.exit_code == 2 and "no campaign to resume" in res.output
    env = {"GOOGLE_API_KEY": ""}
    res = run(main, ["campaign", "--workdir", str(tmp_path / "w"), "--model", "gemini"], env=env)
    assert res.exit_code == 2 and "GOOGLE_API_KEY" in res.output
    res = run(main, ["campaign", "--workdir", str(tmp_path / "w"), "--model", "nonsense"])
    assert res.exit_code == 2
    assert not (tmp_path / "w" / "logs.duckdb").exists()
    with pytest.raises(Exception, match="budget"):
        CampaignContext(max_proxy_evals=None, max_ab_tests=None, max_seconds=None).validate()


@pytest.mark.slow
def test_small_campaign_end_to_end_then_resume_after_kill_9(tmp_path):
    # A clean campaign.
    clean = tmp_path / "clean"
    _queue_human_candidate(clean)
    res = _campaign(clean)
    assert res.returncode == 0, res.stderr[-3000:]
    state = json.loads(res.stdout)
    assert state["proxy_evals"] == 6 and state["stop_reason"]
    journal = Journal(clean / "journal.duckdb")
    records = journal.records()
    assert len(records) == 6 + 1  # every proposal is one journal record, plus the human's
    online = [r for r in records if r.online_result]
    assert 1 <= len(online) == state["ab_tests"] <= 2
    history = ProductionRegistry(clean / "production.json").history()
    assert [h.experiment_id for h in history[1:]] == state["launches"]
    report = state["report"]
    assert os.path.exists(report["html"]) and os.path.exists(report["markdown"])
    # Starting again in the same workdir without --resume is refused.
    again = _campaign(clean)
    assert again.returncode == 2 and "--resume" in again.stderr

    # The same campaign killed with -9 in its first A/B's second day, then resumed.
    crashed = tmp_path / "crashed"
    _queue_human_candidate(crashed)
    first = _campaign(crashed, crash_at="live_day:2")
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    resumed = _campaign(crashed, "--resume", crash_at="live_day:2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = json.loads(resumed.stdout)
    records = Journal(crashed / "journal.duckdb").records()
    assert len(records) == 7 and len({r.id for r in records}) == 7
    # Same seeds, same decisions: the resumed campaign ends where the clean one did.
    assert len(after["launches"]) == len(state["launches"])
    assert after["ab_tests"] == state["ab_tests"]
    assert after["proxy_evals"] == state["proxy_evals"] == 6
