"""The agents' graph: Skillhub persistence across runs, narrowing after a failure, review
interrupt, graph shape — on a scripted A/B harness (``fake_ab``) — and one real end-to-end run."""

from __future__ import annotations

import json

import pytest
from langgraph.store.memory import InMemoryStore

from evorec.graphs.rectune import graph, run_rectune
from evorec.graphs.rectune_state import RecTuneContext
from evorec.rectune.proposers import FusionProposal, FusionProposer
from evorec.rectune.skillhub import Skillhub, open_skillhub

Q = "/ranking/weights/quality/weight"


class ScriptedProposer(FusionProposer):
    """Proposes the given quality weights, one round after another."""

    name = "scripted"

    def __init__(self, rounds):
        self.rounds = list(rounds)
        self.seen = []

    def propose(self, task):
        self.seen.append(task)
        values = self.rounds.pop(0)
        return [
            FusionProposal(
                hypothesis=f"set the quality weight ({Q}) to {v} to test satisfaction",
                delta=[{"op": "replace", "path": Q, "value": v}],
                meta={"proposer": self.name},
            )
            for v in values
        ]


def _ctx(tmp_path, **kw):
    settings = dict(
        surface="home_feed",
        stage="ranking",
        rounds=1,
        proposals=2,
        users=500,
        days=1,
        workdir=str(tmp_path),
        seed=0,
    )
    settings.update(kw)
    return RecTuneContext(**settings)


def test_graph_shape():
    mermaid = graph.get_graph().draw_mermaid()
    for edge in (
        "actor --> critic",
        "critic --> review",
        "review --> online",
        "online --> insight",
        "insight --> skill",
        "skill -.-> actor",
    ):
        assert edge in mermaid


def test_skillhub_persists_across_runs_and_narrows_after_a_failure(tmp_path, fake_ab):
    # Run 1: quality -0.8 wrecks satisfaction (a floor breach), 1.2 helps.
    first = run_rectune(_ctx(tmp_path, proposer=ScriptedProposer([[-0.8, 1.2]])), thread_id="one")
    assert first["summary"]["arms_used"] == 2
    breached = [a for a in first["arms"] if not a["feasible"]]
    assert [a["changes"][Q][1] for a in breached] == [-0.8]
    assert "satisfaction" in breached[0]["breaches"]
    assert first["skill_versions"] == [1]
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["lifts"]

    # The skill is on disk, in a fresh store connection.
    with open_skillhub(tmp_path / "skillhub.sqlite") as hub:
        stored = hub.latest("home_feed", "ranking")
        assert stored.version == 1
        assert stored.search_space[Q].low == pytest.approx(-0.3)
        assert any(k.pointer == Q and k.effect == "hurts" for k in stored.knowledge)
        assert [e.arm for e in stored.elites] == ["one-r1-p1"]
        assert "## Skill `home_feed/ranking` — version 1" in hub.export_markdown()

    # Run 2 (a new thread) starts from the stored skill: narrowed space, the elite as base;
    # the Critic now drops the breaching value as out of range.
    proposer = ScriptedProposer([[-0.8, 2.0]])
    second = run_rectune(_ctx(tmp_path, proposer=proposer), thread_id="two")
    task = proposer.seen[0]
    assert task.skill.search_space[Q].low == pytest.approx(-0.3)
    assert task.base_config["ranking"]["weights"]["quality"]["weight"] == 1.2
    verdicts = second["summary"]
    assert second["skill_versions"] == [2]
    # 2 arms: the re-test of the carried elite one-r1-p1 and one proposal (the re-test took
    # one of the round's two slots, so the Critic keeps one).
    assert second["summary"]["arms_used"] == 2
    assert [a.get("retest_of") for a in second["arms"]] == ["one-r1-p1", None]
    assert [v["rule"] for v in second["verdicts"]] == ["range", "ok"]
    assert "out of range" in second["feedback"][0]
    assert verdicts["pareto"][0]["arm"] == "two-r1-p1"  # quality 2.0 beats 1.2 here

    # Without the Skillhub, the same task starts fresh: the full range again.
    proposer = ScriptedProposer([[-0.8]])
    run_rectune(
        _ctx(tmp_path, proposer=proposer, use_skillhub=False, save_skills=False),
        thread_id="three",
    )
    assert proposer.seen[0].skill.search_space[Q].low == -1.0


def test_the_split_depends_on_seed_and_round_not_on_the_thread(tmp_path, fake_ab):
    for thread, sub in (("alpha", "a"), ("beta", "b")):
        ctx = _ctx(tmp_path / sub, rounds=2, proposals=1, proposer=ScriptedProposer([[0.5], [0.7]]))
        run_rectune(ctx, thread_id=thread)
    run_rectune(
        _ctx(tmp_path / "c", seed=3, proposer=ScriptedProposer([[0.5]])),
        thread_id="alpha",
    )
    splits = [(call["seed"], call["salt"]) for call in fake_ab]
    assert splits[:2] == splits[2:4]  # same seed and rounds, different threads
    assert splits[0] != splits[1]  # rounds differ
    assert splits[4] not in splits[:4]  # another seed


def test_host_store_and_review_interrupt(tmp_path, fake_ab):
    store = InMemoryStore()
    ctx = _ctx(tmp_path, proposer=ScriptedProposer([[0.5, 1.5]]), review=True, store=store)
    paused = run_rectune(ctx, thread_id="rv")
    assert paused["interrupt"]["candidates"][0]["index"] == 0
    assert not fake_ab  # nothing went live before the review
    done = run_rectune(ctx, thread_id="rv", resume=[1])
    assert [a["changes"][Q][1] for a in done["arms"]] == [1.5]
    assert done["review"] == {"answer": [1], "approved": [1]}
    assert Skillhub(store).versions("home_feed", "ranking") == [1]
    assert not (tmp_path / "skillhub.sqlite").exists()


def test_rounds_and_budget_stop_the_run(tmp_path, fake_ab):
    ctx = _ctx(tmp_path, model="random", rounds=5, proposals=2, budget=3)
    out = run_rectune(ctx, thread_id="budget")
    assert out["summary"]["arms_used"] == 3
    assert out["stop_reason"] == "budget"
    assert [len(c["treatments"]) for c in fake_ab] == [2, 1]


@pytest.mark.slow
def test_end_to_end_on_the_simulator(tmp_path):
    """2 rounds × 3 proposals on 1,500 users × 2 days of the real simulator."""
    ctx = _ctx(tmp_path, rounds=2, proposals=3, users=1500, days=2, model="builtin")
    out = run_rectune(ctx, thread_id="e2e")
    summary = out["summary"]
    assert summary["rounds"] == 2 and 1 <= summary["arms_used"] <= 6
    assert summary["pareto"], "a run ends with a Pareto set"
    for point in out["pareto"]:
        if point["arm"] != "initial":
            assert set(point["evidence"]) >= {"active_days", "satisfaction"}
            assert point["evidence"]["active_days"]["p_value"] is not None
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == summary["arms_used"]
