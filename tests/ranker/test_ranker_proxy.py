"""compute_loss: the reference loss over seeds, significance, and the comparability flag."""

from __future__ import annotations

import json

import pytest

import evorec.ranker.proxy as proxy
from evorec.ranker.proxy import ProxyResult, compare, compute_loss


@pytest.fixture()
def base(data, phi):
    return compute_loss(phi, data, budget=40, seeds=(0, 1, 2))


def test_result_shape_and_json(base):
    d = base.to_dict()
    json.dumps(d, allow_nan=False)
    assert len(d["loss"]["per_seed"]) == 3 and d["seeds"] == [0, 1, 2]
    assert d["loss"]["std"] > 0  # seeds differ
    assert 0.5 < d["auc"]["mean"] <= 1.0
    assert d["params"] > 0 and d["latency_ms_per_1k"] > 0 and d["budget_steps"] == 40
    assert "comparison" not in d
    assert ProxyResult.from_record(base.to_record()).to_dict() == d


def test_clearly_worse_optimizer_is_significant(base, data, make_phi):
    starved = make_phi(("replace", "/optimizer", {"algorithm": "sgd", "learning_rate": 0.0001}))
    worse = compute_loss(starved, data, budget=40, seeds=(0, 1, 2), baseline=base)
    c = worse.comparison
    assert c["comparable"] and c["reason"] is None
    assert c["test"].startswith("paired")
    assert c["loss_delta"] > 0 and c["significant"] and not c["better"]
    # and the other way round the baseline is better
    back = compare(base, worse)
    assert back["significant"] and back["better"]


def test_identical_phi_is_not_significant(base, data, phi):
    same = compute_loss(phi, data, budget=40, seeds=(0, 1, 2), baseline=base)
    c = same.comparison
    assert c["loss_delta"] == 0 and c["p_value"] == 1.0
    assert not c["significant"] and not c["better"]


def test_different_seeds_use_welch(base, data, phi):
    other = compute_loss(phi, data, budget=40, seeds=(3, 4, 5), baseline=base)
    assert other.comparison["test"].startswith("Welch")
    assert not other.comparison["significant"]  # same Φ, other seeds


def test_reward_change_is_not_comparable(base, data, make_phi):
    phi = make_phi(
        ("add", "/reward/terms/-", {"signal": "completion", "weight": 0.5}),
    )
    res = compute_loss(phi, data, budget=40, seeds=(0, 1, 2), baseline=base)
    c = res.comparison
    assert not c["comparable"] and "reward" in c["reason"] and not c["better"]
    assert res.reward_hash != base.reward_hash
    # the reference label stays the click, so the loss is still measured on it
    assert res.to_dict()["loss"]["label"].startswith("click")


def test_default_budget_is_bounded(data, make_phi, monkeypatch):
    monkeypatch.setattr(proxy, "DEFAULT_SAMPLE_BUDGET", 10_000)
    long = make_phi(("replace", "/training/epochs", 100))
    res = compute_loss(long, data, seeds=(0,))
    assert res.budget_steps == 40  # ceil(10,000 / 256), not the 100 epochs Φ asks for
    assert res.notes and "budget" in res.notes[0]
    short = compute_loss(make_phi(("replace", "/training/max_steps", 7)), data, seeds=(0,))
    assert short.budget_steps == 7 and not short.notes
