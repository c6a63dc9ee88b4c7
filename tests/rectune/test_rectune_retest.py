"""Warm runs re-test the carried elites: stale evidence from an earlier run never competes
with this run's (winner's curse), and each re-test costs an arm of the budget."""

from __future__ import annotations

import pytest
from langgraph.store.memory import InMemoryStore

from evorec.graphs.rectune import run_rectune
from evorec.graphs.rectune_state import RecTuneContext
from evorec.rectune.agents import insight
from evorec.rectune.proposers import FusionProposal, FusionProposer
from evorec.rectune.skillhub import ElitePoint, Skillhub, seed_skill
from evorec.rectune.space import read_value
from evorec.simulator.pipeline import apply_fusion_delta

Q = "/ranking/weights/quality/weight"
METRICS = ("active_days", "time_spent", "satisfaction", "clicks")


class QualityProposer(FusionProposer):
    """Proposes quality weights, ``n`` at a time, from a fixed list."""

    name = "quality"

    def __init__(self, values):
        self.values = list(values)
        self.seen = []

    def propose(self, task):
        self.seen.append(task)
        out = []
        while self.values and len(out) < task.n:
            v = self.values.pop(0)
            out.append(
                FusionProposal(
                    hypothesis=f"set the quality weight ({Q}) to {v} to test satisfaction",
                    delta=[{"op": "replace", "path": Q, "value": v}],
                    meta={"proposer": self.name},
                )
            )
        return out


def _elite(skill, arm, quality, stale_lift):
    """A carried elite at ``quality`` whose earlier run reported ``stale_lift`` everywhere
    (far better than what :func:`scripted_lifts` gives it now: winner's curse)."""
    delta = [{"op": "replace", "path": Q, "value": quality}]
    lifts = dict.fromkeys(METRICS, stale_lift)
    return ElitePoint(
        arm=arm,
        config=apply_fusion_delta(skill.initial_config, delta).to_json(),
        delta=delta,
        hypothesis=f"quality weight {quality}",
        lifts=lifts,
        score=skill.objectives.score(lifts),
    )


def _warm_store():
    skill = seed_skill("home_feed", "ranking")
    skill.elites = [_elite(skill, "old-best", 1.2, 0.30), _elite(skill, "old-other", 0.6, 0.20)]
    store = InMemoryStore()
    Skillhub(store).put(skill, "an earlier run")
    return store


def _ctx(tmp_path, **kw):
    settings = dict(
        surface="home_feed",
        stage="ranking",
        rounds=2,
        proposals=2,
        users=500,
        days=1,
        workdir=str(tmp_path),
        seed=0,
    )
    settings.update(kw)
    return RecTuneContext(**settings)


def test_warm_run_retests_the_carried_best_elite_in_round_one(tmp_path, fake_ab):
    proposer = QualityProposer([0.9, 1.5, 2.0, 0.4])
    out = run_rectune(
        _ctx(tmp_path, store=_warm_store(), proposer=proposer, rounds=3, budget=3),
        thread_id="warm",
    )
    # Round 1: the best carried elite (by its stale score) against the control, next to one
    # proposal (the re-test took one of the round's two slots); round 2: the last arm left.
    first = fake_ab[0]["treatments"]
    assert list(first) == ["warm-r1-e0", "warm-r1-p0"]
    assert read_value(first["warm-r1-e0"].config.to_json(), Q) == 1.2
    assert [len(c["treatments"]) for c in fake_ab] == [2, 1]
    assert out["summary"]["arms_used"] == 3 and out["stop_reason"] == "budget"
    assert [t.n for t in proposer.seen] == [1, 1]
    retest = out["arms"][0]
    assert retest["retest_of"] == "old-best" and retest["round"] == 0
    assert retest["stale_score"] > 0.3
    # Fresh evidence from this run's experiment replaces the stale one (the scripted world
    # gives quality 1.2 an active-days lift of 0.02 x (1.2 - 0.2), not the reported 30 %).
    assert retest["lifts"]["active_days"] == pytest.approx(0.02)
    assert retest["stale_lifts"]["active_days"] == 0.30
    assert retest["score"] < retest["stale_score"]
    # The round's proposal was judged against the base's fresh score, not its stale one.
    proposal = out["arms"][1]
    assert proposal["base_arm"] == "warm-r1-e0"
    assert proposal["base_score"] == pytest.approx(retest["score"])
    assert proposer.seen[0].base_config == proposer.seen[1].base_config == retest["config"]


def test_stale_evidence_never_wins_selection(tmp_path, fake_ab):
    proposer = QualityProposer([0.9, 1.5, 2.0])
    out = run_rectune(
        _ctx(tmp_path, store=_warm_store(), proposer=proposer, rounds=1, proposals=3),
        thread_id="w",
    )
    pareto = [p["arm"] for p in out["pareto"]]
    assert "old-best" not in pareto and "old-other" not in pareto  # stale: not points
    assert out["insights"][0]["stale"][0]["arm"] == "old-other"  # not re-tested
    assert all(not p.get("stale") for p in out["pareto"])
    # quality 1.5 beats the re-tested 1.2 on fresh evidence; the stale scores (0.3+) would
    # have beaten both.
    assert pareto[0] == "w-r1-p1"
    # The skill written after the round keeps only freshly measured elites.
    assert {e["arm"] for e in out["insights"][0]["elites"]} <= {a["arm"] for a in out["arms"]}
    assert out["skill"]["elites"][0]["arm"] == "w-r1-p1"
    assert "old-other" not in {e["arm"] for e in out["skill"]["elites"]}


def test_insight_excludes_stale_carried_elites(ranking_skill):
    skill = ranking_skill.model_copy(deep=True)
    skill.elites = [_elite(skill, "old", 1.2, 0.5)]
    fresh = {
        "arm": "new",
        "round": 0,
        "status": "measured",
        "config": {},
        "lifts": dict.fromkeys(METRICS, 0.01),
        "feasible": True,
        "breaches": [],
        "score": 0.0145,
        "base_score": 0.0,
        "changes": {},
    }
    report = insight([fresh], skill=skill, round_index=0)
    assert [p["arm"] for p in report.pareto] == ["new"]  # it dominates the initial point
    assert [s["arm"] for s in report.stale] == ["old"]
    assert "stale" in report.summary
    # Its re-test replaces the elite: no stale point left, the fresh read-out competes.
    retest = {**fresh, "arm": "again", "retest_of": "old", "lifts": dict.fromkeys(METRICS, 0.02)}
    retest.update(score=0.029, stale_score=0.725)
    report = insight([fresh, retest], skill=skill, round_index=0)
    assert report.stale == []
    assert [p["arm"] for p in report.pareto] == ["again"]
    assert "re-tested the carried elite old" in report.summary
    # An arm explicitly marked stale is never a point, however good it looks.
    marked = {**fresh, "arm": "marked", "stale": True, "lifts": dict.fromkeys(METRICS, 0.9)}
    report = insight([fresh, marked], skill=skill, round_index=0)
    assert [p["arm"] for p in report.pareto] == ["new"]


def test_retest_counts_against_the_budget(tmp_path, fake_ab):
    proposer = QualityProposer([0.9, 1.5])
    out = run_rectune(
        _ctx(tmp_path, store=_warm_store(), proposer=proposer, rounds=3, budget=1),
        thread_id="b",
    )
    # The only arm of the budget went to the re-test: the Actor was not even asked.
    assert [list(c["treatments"]) for c in fake_ab] == [["b-r1-e0"]]
    assert out["summary"]["arms_used"] == 1 and out["stop_reason"] == "budget"
    assert proposer.seen == []
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1


def test_cold_run_and_retest_off_spend_no_arm_on_retests(tmp_path, fake_ab):
    proposer = QualityProposer([0.9, 1.5])
    out = run_rectune(
        _ctx(tmp_path, store=_warm_store(), proposer=proposer, rounds=1, retest_elites=0),
        thread_id="off",
    )
    assert list(fake_ab[0]["treatments"]) == ["off-r1-p0", "off-r1-p1"]
    assert not any(a.get("retest_of") for a in out["arms"])
    # Stale elites still never enter the Pareto set.
    assert {p["arm"] for p in out["pareto"]} <= {"off-r1-p0", "off-r1-p1", "initial"}


def test_review_shows_the_retest_and_false_stops_it(tmp_path, fake_ab):
    ctx = _ctx(
        tmp_path, store=_warm_store(), proposer=QualityProposer([0.9]), rounds=1, review=True
    )
    paused = run_rectune(ctx, thread_id="rv")
    assert [r["arm"] for r in paused["interrupt"]["retests"]] == ["old-best"]
    done = run_rectune(ctx, thread_id="rv", resume=False)
    assert not fake_ab and done["summary"]["arms_used"] == 0
    # Nothing went live: the Skillhub keeps the carried elites for a later run.
    assert [e["arm"] for e in done["skill"]["elites"]] == ["old-best", "old-other"]
