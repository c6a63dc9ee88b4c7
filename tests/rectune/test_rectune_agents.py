"""The Critic's rules, the Insight agent's Pareto pruning and the Skill agent's distillation."""

from __future__ import annotations

import pytest

from evorec.rectune.agents import BREACH, critique, distil, insight
from evorec.rectune.skillhub import Knowledge

GOOD = "raise the quality weight (/ranking/weights/quality/weight) so satisfaction rises"


def _p(delta, hypothesis=GOOD):
    return {"hypothesis": hypothesis, "delta": delta}


def _set(path, value):
    return [{"op": "replace", "path": path, "value": value}]


def test_critic_drops_out_of_range_and_duplicates_with_justification(ranking_skill):
    base = ranking_skill.initial_config
    proposals = [
        _p(_set("/ranking/weights/quality/weight", 1.0)),  # fine
        _p(_set("/ranking/weights/quality/weight", 1.0)),  # duplicate of the first
        _p(_set("/ranking/weights/quality/weight", 5.0)),  # valid Φ, outside the search space
        _p(_set("/ranking/weights/quality/weight", 50.0)),  # invalid config (schema ≤ 10)
        _p(_set("/re_ranking/diversity_penalty", 0.5), "diversity penalty up to help"),  # stage
        _p(_set("/ranking/weights/quality/weight", 0.2)),  # no change
        _p(_set("/ranking/weights/quality/weight", 2.0), "trust me on this one"),  # explanation
        _p(_set("/ranking/weights/quality/weight", 1.01)),  # too close to the first
    ]
    verdicts = critique(proposals, skill=ranking_skill, base_config=base, min_distance=0.05)
    rules = [v.rule for v in verdicts]
    assert rules == [
        "ok",
        "duplicate",
        "range",
        "valid",
        "stage",
        "no-op",
        "explanation",
        "diversity",
    ]
    assert [v.kept for v in verdicts] == [True] + [False] * 7
    assert "duplicate of proposal 0" in verdicts[1].justification
    assert "out of range [-1, 3]" in verdicts[2].justification
    assert "/re_ranking/diversity_penalty" in verdicts[4].justification
    assert "does not name /ranking/weights/quality/weight" in verdicts[6].justification
    assert all(v.justification for v in verdicts)
    assert verdicts[0].config["ranking"]["weights"]["quality"]["weight"] == 1.0


def test_critic_drops_tested_configs_harmful_moves_and_over_budget(ranking_skill):
    base = ranking_skill.initial_config
    skill = ranking_skill.model_copy(deep=True)
    skill.knowledge.append(
        Knowledge(
            text="raising p_click above 2 breached active days",
            pointer="/ranking/weights/p_click/weight",
            move="increase",
            effect="hurts",
            beyond=2.0,
        )
    )
    tested_cfg = critique(
        [_p(_set("/ranking/weights/quality/weight", 1.5))], skill=skill, base_config=base
    )[0].config
    proposals = [
        _p(_set("/ranking/weights/quality/weight", 1.5)),
        _p(_set("/ranking/weights/p_click/weight", 2.5), "raise p_click weight to chase clicks"),
        _p(
            _set("/ranking/weights/p_click/weight", 1.5), "raise p_click weight a little for clicks"
        ),
        _p(_set("/ranking/weights/quality/weight", -0.5)),
        _p(_set("/ranking/weights/quality/weight", 2.5)),
    ]
    verdicts = critique(
        proposals,
        skill=skill,
        base_config=base,
        tested=[{"arm": "a1", "config": tested_cfg}],
        max_keep=2,
    )
    assert [v.rule for v in verdicts] == ["duplicate", "knowledge", "ok", "ok", "budget"]
    assert "tested arm a1" in verdicts[0].justification
    assert "domain knowledge" in verdicts[1].justification


def _arm(name, lifts, *, feasible=True, score=None, changes=None, rnd=0, base_score=0.0):
    return {
        "arm": name,
        "round": rnd,
        "status": "measured",
        "config": {"name": name},
        "delta": [],
        "lifts": lifts,
        "feasible": feasible,
        "breaches": [] if feasible else ["satisfaction"],
        "score": score,
        "base_score": base_score,
        "changes": changes or {},
    }


def test_insight_prunes_dominated_and_infeasible(ranking_skill):
    m = ("active_days", "time_spent", "satisfaction", "clicks")

    def lifts(*v):
        return dict(zip(m, v, strict=True))

    arms = [
        _arm("a", lifts(0.02, 0.01, 0.05, 0.0), score=0.03),
        _arm("b", lifts(0.01, 0.00, 0.04, -0.01), score=0.01),  # dominated by a
        _arm("c", lifts(-0.01, 0.05, 0.00, 0.10), score=0.01),  # a trade-off: kept
        _arm("d", lifts(-0.02, -0.01, -0.01, -0.02), score=-0.03),  # dominated by initial
        _arm("e", lifts(0.09, 0.09, -0.3, 0.09), feasible=False),  # breached: not a point
    ]
    report = insight(arms, skill=ranking_skill, round_index=0)
    # The initial configuration (all lifts 0) is a point too, and ``a`` dominates it.
    assert [p["arm"] for p in report.pareto] == ["a", "c"]
    assert {p["arm"]: p["by"] for p in report.pruned} == {"initial": "a", "b": "a", "d": "initial"}
    assert [x["arm"] for x in report.infeasible] == ["e"]
    assert "breached the floor of satisfaction" in report.summary
    assert report.elites[0]["arm"] == "a"


def test_distil_narrows_the_space_and_records_rules(ranking_skill):
    pointer = "/ranking/weights/quality/weight"
    breach = _arm(
        "x",
        {"active_days": 0.0, "satisfaction": -0.3},
        feasible=False,
        changes={pointer: [0.2, -0.8]},
    )
    good = _arm(
        "y",
        {"active_days": 0.02, "time_spent": 0, "satisfaction": 0.1, "clicks": 0},
        score=0.03,
        changes={pointer: [0.2, 1.2]},
    )
    report = insight([breach, good], skill=ranking_skill, round_index=0)
    before = ranking_skill.search_space[pointer]
    new, notes = distil(ranking_skill, [breach, good], report, source="run t round 1")
    after = new.search_space[pointer]
    assert (before.low, before.high) == (-1.0, 3.0)
    assert after.high == before.high
    assert after.low == pytest.approx(-0.3)  # halfway back from -0.8 to 0.2
    assert any("narrowed" in n for n in notes)
    hurts = [k for k in new.knowledge if k.effect == "hurts"]
    assert hurts and hurts[0].pointer == pointer and hurts[0].move == "decrease"
    assert any(k.effect == "helps" and k.pointer == pointer for k in new.knowledge)
    assert new.field_effects[pointer]["decrease"] == [BREACH]
    assert new.field_effects[pointer]["increase"] == [0.03]
    assert [e.arm for e in new.elites] == ["y"]
    assert ranking_skill.search_space[pointer].low == -1.0  # the input is not mutated
