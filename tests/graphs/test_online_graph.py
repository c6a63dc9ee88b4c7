"""The online agent: the five-phase DAG, launch decisions, approval, bad input."""

from __future__ import annotations

import json

import pytest
from _candidates import BETTER, HARMFUL, IDENTICAL
from click.testing import CliRunner

from evorec.cli import main
from evorec.errors import InvalidDelta
from evorec.graphs.online import build_online_graph, run_online
from evorec.graphs.online_nodes import decide_launch
from evorec.graphs.online_queue import propose_candidate
from evorec.journal import IllegalTransition, Journal, Status
from evorec.production import ProductionRegistry


def _propose(ctx, delta, hypothesis):
    return propose_candidate(
        ctx.journal_path, delta, hypothesis, surface=ctx.surface, workdir=ctx.workdir
    )["id"]


def test_graph_shape_is_the_five_phase_dag():
    mermaid = build_online_graph().compile().get_graph().draw_mermaid()
    for node in (
        "ensure_production",
        "pick",
        "validate",
        "train",
        "approve",
        "live_day",
        "complete",
        "abort",
    ):
        assert node in mermaid
    assert "live_day -.-> live_day" in mermaid  # one simulated day per step


@pytest.mark.slow
def test_queue_harmful_identical_and_better_candidates(context):
    ctx = context()
    harmful = _propose(ctx, HARMFUL, "log watch time: reward long views")
    identical = _propose(ctx, IDENTICAL, "same learning rate")
    better = _propose(ctx, BETTER, "train on likes, which follow quality, not on clicks")
    start = ProductionRegistry(ctx.registry_path).current()

    result = run_online(ctx, thread_id="queue")
    assert result["completed"] == [harmful, identical, better]  # FIFO
    journal = Journal(ctx.journal_path)

    rec = journal.get(harmful)
    assert rec.status in (Status.NOT_LAUNCHED, Status.ABORTED)

    rec = journal.get(identical)
    assert rec.status is Status.FAILED and "identical" in rec.error

    rec = journal.get(better)
    assert rec.status is Status.LAUNCHED, rec.online_result["decision"]
    ns = rec.online_result["ab"]["metrics"]["active_days"]
    assert ns["rel_lift"] > 0 and ns["ci_low"] > 0 and ns["p_value"] < 0.05
    assert rec.online_result["ab"]["valid"]

    production = ProductionRegistry(ctx.registry_path).current()
    assert production.version == start.version + 1 and production.experiment_id == better
    assert production.phi["reward"]["terms"][0]["signal"] == "like"
    assert f"/{better}/" in production.artifact
    # Every online phase is in the event history, in order.
    statuses = [
        e["to_status"] for e in journal.events(better) if e["kind"] in ("created", "status")
    ]
    assert statuses == ["PROPOSED", "VALIDATED", "TRAINING", "TRAINED", "LIVE", "LAUNCHED"]


@pytest.mark.slow
def test_an_imbalanced_split_makes_the_experiment_invalid(context):
    ctx = context(srm_injection=0.3, days=2)
    exp = _propose(ctx, BETTER, "likes")
    run_online(ctx, thread_id="srm")
    rec = Journal(ctx.journal_path).get(exp)
    assert rec.status is Status.NOT_LAUNCHED
    assert "sample-ratio mismatch" in rec.online_result["decision"]["summary"]
    assert not rec.online_result["ab"]["valid"]
    assert ProductionRegistry(ctx.registry_path).current().version == 0


def test_illegal_transitions_are_refused(context):
    ctx = context()
    exp = _propose(ctx, BETTER, "likes")
    journal = Journal(ctx.journal_path)
    with pytest.raises(IllegalTransition):
        journal.transition(exp, Status.LIVE)  # PROPOSED -> LIVE skips three phases
    journal.transition(exp, Status.FAILED, error="test")
    with pytest.raises(IllegalTransition):
        journal.transition(exp, Status.TRAINING)  # nothing leaves a terminal status


def test_approval_interrupt_then_reject(context):
    ctx = context(approve_before_live=True, days=1, users=500)
    exp = _propose(ctx, BETTER, "likes")
    paused = run_online(ctx, thread_id="review")
    assert paused["__interrupt__"][0]["experiment_id"] == exp
    assert Journal(ctx.journal_path).get(exp).status is Status.TRAINED
    res = CliRunner().invoke(
        main,
        [
            "approve",
            exp,
            "--reject",
            "--journal",
            ctx.journal_path,
            "--data",
            ctx.data_path,
            "--workdir",
            ctx.workdir,
            "--users",
            "500",
            "--days",
            "1",
            "--thread",
            "review",
        ],
    )
    assert res.exit_code == 0, res.output
    rec = Journal(ctx.journal_path).get(exp)
    assert rec.status is Status.ABORTED and "rejected by a reviewer" in rec.error


def test_approval_interrupt_then_approve_goes_live(context):
    ctx = context(approve_before_live=True, days=1, users=500)
    exp = _propose(ctx, BETTER, "likes")
    run_online(ctx, thread_id="review")
    result = run_online(ctx, thread_id="review", resume="approve")
    assert result["completed"] == [exp]
    rec = Journal(ctx.journal_path).get(exp)
    # Approved, it went live and the A/B ended in one of its own outcomes: a launch decision at
    # the horizon, or a guardrail abort (the like-label model cuts clicks and time spent).
    events = Journal(ctx.journal_path).events(exp)
    statuses = [e["to_status"] for e in events if e["kind"] in ("created", "status")]
    assert statuses[-2:] in (["LIVE", "LAUNCHED"], ["LIVE", "NOT_LAUNCHED"], ["LIVE", "ABORTED"])
    assert rec.online_result["ab"]["days_run"] == 1
    if rec.status is Status.ABORTED:
        assert "guardrail" in rec.error and "rejected" not in rec.error
    else:
        assert rec.online_result["ab"]["complete"]


@pytest.mark.slow
def test_the_same_candidate_and_seed_give_the_same_ab_readout(context, online_world, tmp_path):
    """Experiment ids carry a random suffix; the A/B split must not depend on it."""
    import shutil

    outcomes = []
    for run in ("a", "b"):
        workdir = tmp_path / f"repeat-{run}"
        shutil.copytree(online_world / "template", workdir)
        ctx = context(
            workdir=str(workdir), journal_path=str(workdir / "journal.duckdb"), days=1, users=500
        )
        exp = _propose(ctx, BETTER, "likes")
        run_online(ctx, thread_id=run)
        rec = Journal(ctx.journal_path).get(exp)
        outcomes.append((exp, rec.status, rec.online_result["ab"]))
    (id_a, status_a, ab_a), (id_b, status_b, ab_b) = outcomes
    assert id_a != id_b
    assert status_a is status_b and ab_a == ab_b


def test_too_little_data_fails_fast_before_training(context):
    ctx = context(min_impressions=10**9)
    exp = _propose(ctx, BETTER, "likes")
    run_online(ctx, thread_id="data")
    rec = Journal(ctx.journal_path).get(exp)
    assert rec.status is Status.FAILED and "logged impressions" in rec.error
    assert not (ctx.artifacts_dir / exp).exists()


def test_a_bad_delta_is_refused_and_nothing_is_queued(context, tmp_path):
    ctx = context()
    with pytest.raises(InvalidDelta):
        _propose(ctx, [{"op": "replace", "path": "/optimizer/lr", "value": 1}], "typo")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"op": "replace", "path": "/reward/loss", "value": "hinge"}]))
    res = CliRunner().invoke(
        main,
        [
            "propose",
            "--journal",
            ctx.journal_path,
            "--delta",
            str(bad),
            "--hypothesis",
            "x",
            "--workdir",
            ctx.workdir,
        ],
    )
    assert res.exit_code == 2 and "error:" in res.output
    assert Journal(ctx.journal_path).queue() == []


def _readout(**metrics):
    base = {"rel_lift": 0.0, "ci_low": -0.01, "ci_high": 0.01, "p_value": 0.5, "abs_diff": 0.0}
    return {name: {**base, **m} for name, m in metrics.items()}


def test_launch_rule():
    good = {
        "valid": True,
        "complete": True,
        "aborted": False,
        "srm": {"p_value": 0.4},
        "metrics": _readout(
            active_days={"rel_lift": 0.05, "ci_low": 0.01, "ci_high": 0.09, "p_value": 0.01}
        ),
    }
    assert decide_launch(good)["launch"]
    flat = {**good, "metrics": _readout(active_days={})}
    assert not decide_launch(flat)["launch"]
    invalid = {**good, "valid": False, "srm": {"p_value": 1e-6}}
    assert "sample-ratio" in decide_launch(invalid)["summary"]
    aborted = {
        **good,
        "aborted": True,
        "complete": False,
        "abort_reason": "guardrail x",
        "metrics": {},
    }
    assert not decide_launch(aborted)["launch"]
