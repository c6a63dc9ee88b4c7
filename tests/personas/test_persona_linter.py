"""The Linter's deterministic rules."""

from __future__ import annotations

import pytest

from evorec.delta import apply_delta
from evorec.personas import lint_delta
from evorec.ranker.schema import baseline_phi


def lint(persona, delta, base=None):
    base = base or baseline_phi()
    return lint_delta(persona, base, apply_delta(base, delta), delta)


def rep(path, value):
    return {"op": "replace", "path": path, "value": value}


def test_a_sound_delta_passes():
    verdict = lint(
        "optimizer", [rep("/optimizer/algorithm", "adam"), rep("/optimizer/learning_rate", 0.003)]
    )
    assert verdict.ok and verdict.problems == []
    assert verdict.to_dict() == {"ok": True, "problems": []}


@pytest.mark.parametrize(
    ("persona", "delta", "needle"),
    [
        ("reward", [rep("/optimizer/algorithm", "adam")], "outside /reward"),
        ("optimizer", [rep("/training/epochs", 5)], "/training and /constraints"),
        (None, [rep("/constraints/max_params", 10_000_000)], "/training and /constraints"),
        ("optimizer", [rep("/optimizer/learning_rate", 0.05)], "does not change"),
        ("optimizer", [rep("/optimizer/learning_rate", 0.0001)], "500×"),
        ("optimizer", [rep("/optimizer/momentum", 0.9)], "no effect"),
        ("optimizer", [rep("/optimizer/min_lr_ratio", 0.1)], "no effect"),
        ("reward", [rep("/reward/terms/0/weight", 0.0)], "constant"),
        ("reward", [rep("/reward/terms/0/weight", -1.0)], "always 0"),
        (
            "reward",
            [
                {
                    "op": "add",
                    "path": "/reward/terms/-",
                    "value": {"signal": "watch_time", "weight": 0.1},
                }
            ],
            "saturates",
        ),
        (
            "reward",
            [
                {
                    "op": "add",
                    "path": "/reward/terms/-",
                    "value": {"signal": "survey", "weight": 0.2},
                }
            ],
            "fill_missing",
        ),
        (
            "reward",
            [
                {
                    "op": "add",
                    "path": "/reward/terms/-",
                    "value": {
                        "signal": "like",
                        "weight": 1.0,
                        "transform": "threshold",
                        "param": 2.0,
                    },
                }
            ],
            "never fires",
        ),
        (
            "reward",
            [{"op": "add", "path": "/reward/terms/-", "value": {"signal": "click", "weight": 1.0}}],
            "twice",
        ),
        (
            "reward",
            [{"op": "add", "path": "/reward/terms/-", "value": {"signal": "like", "weight": 0.0}}],
            "weight zero",
        ),
        ("architecture", [rep("/architecture/embedding_dim", 128)], "more than 4×"),
        ("architecture", [rep("/architecture/tower_widths", [4096, 4096])], "above max_params"),
    ],
)
def test_each_rule_fires(persona, delta, needle):
    verdict = lint(persona, delta)
    assert not verdict.ok
    assert any(needle in p for p in verdict.problems), verdict.problems


def test_aux_head_on_a_zero_weight_signal():
    base = apply_delta(
        baseline_phi(),
        [{"op": "add", "path": "/reward/terms/-", "value": {"signal": "like", "weight": 0.0}}],
    )
    delta = [rep("/architecture/aux_heads", [{"signal": "like", "weight": 0.5}])]
    verdict = lint("architecture", delta, base)
    assert any("aux head on 'like'" in p for p in verdict.problems)
    ok = lint(
        "architecture",
        [rep("/architecture/aux_heads", [{"signal": "completion", "weight": 0.5}])],
        base,
    )
    assert ok.ok


def test_survey_threshold_and_neutral_fill_are_fine():
    for term in (
        {"signal": "survey", "weight": 0.5, "transform": "threshold", "param": 4.0},
        {"signal": "survey", "weight": 0.1, "fill_missing": 3.0},
    ):
        assert lint("reward", [{"op": "add", "path": "/reward/terms/-", "value": term}]).ok
