"""Training from Φ: label composition, every optimiser and schedule, divergence, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evorec.errors import ConstraintViolation, TrainingDiverged
from evorec.ranker.schema import Optimizer, Reward
from evorec.ranker.training import compose_label, lr_factor, train

SIGNALS = {
    "click": np.array([1, 0, 1, 0], np.float32),
    "watch_time": np.array([120.0, 0.0, 30.0, 0.0], np.float32),
    "completion": np.array([0.5, 0.0, 1.0, 0.0], np.float32),
    "like": np.array([1, 0, 0, 0], np.float32),
    "dismiss": np.array([0, 1, 0, 0], np.float32),
    "survey": np.array([5, np.nan, 2, np.nan], np.float32),
}


def test_label_composition_on_known_values():
    reward = Reward.model_validate(
        {
            "terms": [
                {"signal": "click", "weight": 1.0},
                {"signal": "watch_time", "weight": 0.1, "transform": "log1p"},
                {"signal": "watch_time", "weight": 2.0, "transform": "threshold", "param": 60.0},
                {"signal": "completion", "weight": 3.0, "transform": "clip", "param": 0.8},
                {"signal": "dismiss", "weight": -1.0},
                {"signal": "survey", "weight": 0.5, "fill_missing": 3.0},
            ],
            "loss": "mse",
        }
    )
    got = compose_label(reward, SIGNALS)
    wt = SIGNALS["watch_time"].astype(float)
    want = (
        SIGNALS["click"]
        + 0.1 * np.log1p(wt)
        + 2.0 * (wt >= 60)
        + 3.0 * np.minimum(SIGNALS["completion"], 0.8)
        - SIGNALS["dismiss"]
        + 0.5 * np.array([5, 3, 2, 3])
    )
    assert np.allclose(got, want, atol=1e-5)
    assert got[0] == pytest.approx(1 + 0.1 * math.log(121) + 2 + 3 * 0.5 + 2.5, abs=1e-5)
    assert got[2] == pytest.approx(1 + 0.1 * math.log(31) + 0 + 3 * 0.8 + 1.0, abs=1e-5)


def test_bce_label_is_clamped_and_reported(data, make_phi):
    phi = make_phi(("add", "/reward/terms/-", {"signal": "watch_time", "weight": 1.0}))
    result = train(phi, data, max_steps=3)
    frac = result.metrics["label_clamped_fraction"]
    assert frac == pytest.approx(
        float((data.signals["watch_time"][data.train_index] > 0).mean()), abs=1e-6
    )
    mse = make_phi(
        ("replace", "/reward/loss", "mse"),
        ("add", "/reward/terms/-", {"signal": "watch_time", "weight": 1.0}),
    )
    assert train(mse, data, max_steps=3).metrics["label_clamped_fraction"] == 0.0


@pytest.mark.parametrize(
    "opt",
    [
        {"algorithm": "adagrad", "learning_rate": 0.05},
        {"algorithm": "rmsprop", "learning_rate": 0.001, "momentum": 0.5, "rho": 0.9},
        {
            "algorithm": "adam",
            "learning_rate": 0.003,
            "beta1": 0.8,
            "schedule": "cosine",
            "warmup_steps": 3,
        },
        {
            "algorithm": "adamw",
            "learning_rate": 0.003,
            "weight_decay": 0.01,
            "schedule": "linear",
            "min_lr_ratio": 0.1,
        },
        {
            "algorithm": "sgd",
            "learning_rate": 0.1,
            "momentum": 0.9,
            "nesterov": True,
            "schedule": "exponential",
            "decay_rate": 0.5,
            "grad_clip_norm": 1.0,
        },
        {"algorithm": "sgd", "learning_rate": 0.1},
    ],
)
def test_every_optimizer_and_schedule_trains(opt, data, make_phi):
    phi = make_phi(("replace", "/optimizer", opt))
    result = train(phi, data, max_steps=12)
    m = result.metrics
    assert result.steps == 12 and m["samples"] == 12 * 256
    for key in ("train_loss", "heldout_loss", "click_logloss", "click_auc"):
        assert math.isfinite(m[key]), key


def test_lr_schedules():
    def opt(**kw):
        return Optimizer.model_validate({"algorithm": "adam", "learning_rate": 1.0, **kw})

    warm = opt(warmup_steps=4)
    assert [lr_factor(warm, s, 100) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    cos = opt(schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(cos, 0, 101) == pytest.approx(1.0)
    assert lr_factor(cos, 50, 101) == pytest.approx(0.55)
    assert lr_factor(cos, 100, 101) == pytest.approx(0.1)
    lin = opt(schedule="linear", min_lr_ratio=0.0, warmup_steps=10)
    assert lr_factor(lin, 10, 111) == pytest.approx(1.0)
    assert lr_factor(lin, 110, 111) == pytest.approx(0.0)
    exp = opt(schedule="exponential", decay_rate=0.5)
    assert lr_factor(exp, 2000, 10_000) == pytest.approx(0.25)
    assert lr_factor(opt(), 5000, 10_000) == 1.0


def test_training_learns_something(data, phi):
    m = train(phi, data).metrics
    assert m["click_auc"] > 0.65  # the synthetic clicks follow user-topic affinity
    untrained = train(phi, data, max_steps=1).metrics
    assert m["click_logloss"] < untrained["click_logloss"]


def test_same_seed_same_model_other_seed_differs(data, phi):
    a = train(phi, data, max_steps=10).metrics
    b = train(phi, data, max_steps=10).metrics
    c = train(phi, data, max_steps=10, seed=7).metrics
    assert a["heldout_loss"] == b["heldout_loss"]
    assert a["heldout_loss"] != c["heldout_loss"]


def test_huge_sgd_step_diverges_fast(data, make_phi):
    phi = make_phi(
        ("replace", "/optimizer", {"algorithm": "sgd", "learning_rate": 10.0}),
        (
            "replace",
            "/reward",
            {"terms": [{"signal": "watch_time", "weight": 100.0}], "loss": "mse"},
        ),
    )
    with pytest.raises(TrainingDiverged) as info:
        train(phi, data)
    assert info.value.step is not None and info.value.step < 20
    assert not math.isfinite(info.value.loss)


def test_poisoned_label_diverges(data, make_phi):
    phi = make_phi(
        ("replace", "/reward", {"terms": [{"signal": "watch_time", "weight": 1.0}], "loss": "mse"})
    )
    data.signals["watch_time"][data.train_index[:500]] = np.inf
    with pytest.raises(TrainingDiverged) as info:
        train(phi, data)
    assert info.value.step is not None and info.value.step < 8


def test_aux_heads_train_with_masked_survey(data, make_phi):
    phi = make_phi(
        ("add", "/architecture/aux_heads/-", {"signal": "survey", "weight": 1.0}),
        ("add", "/architecture/aux_heads/-", {"signal": "watch_time", "weight": 0.5}),
    )
    m = train(phi, data, max_steps=20).metrics
    assert math.isfinite(m["heldout_loss"])
    assert m["heldout_loss"] > m["heldout_reward_loss"]  # aux losses are added


def test_constraint_checked_before_training(data, make_phi):
    phi = make_phi(("replace", "/constraints/max_params", 1000))
    with pytest.raises(ConstraintViolation) as info:
        train(phi, data)
    assert info.value.name == "max_params" and info.value.value > 1000
