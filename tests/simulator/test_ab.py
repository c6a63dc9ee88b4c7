import numpy as np
import pytest

from evorec.errors import ConfigError, SimulationError
from evorec.simulator.ab import NORTH_STAR, ABExperiment, Guardrail, run_ab
from evorec.simulator.world import topk


def test_clickbait_is_detected_as_harmful_on_the_north_star():
    r = run_ab("logging", "clickbait", "home_feed", 2000, 4, 0.5, seed=5)
    ns = r.north_star_readout()
    assert r.complete and r.valid
    assert ns.rel_lift < 0 and ns.p_value < 0.05 and ns.ci_high < 0
    # ... although on the first day it drew more clicks than the logging policy.
    first = r.daily[0]
    assert first["treatment"]["daily_clicks_per_user"] > first["control"]["daily_clicks_per_user"]


def test_forced_imbalanced_split_trips_the_srm_check():
    r = run_ab("logging", "logging", "home_feed", 2000, 1, 0.5, seed=5, srm_injection=0.2)
    assert not r.valid and r.srm.p_value < 0.001


def test_north_star_is_delayed_and_guardrails_are_daily():
    exp = ABExperiment("logging", "random", "home_feed", 1000, 3, 0.5, seed=2, pre_days=0)
    exp.run_day()
    early = exp.result()
    assert not early.complete and early.metrics == {} and len(early.daily) == 1
    assert set(early.daily[0]["control"]) == {
        "daily_active_rate",
        "daily_clicks_per_user",
        "daily_time_spent",
        "daily_satisfaction",
    }
    while not exp.done:
        exp.run_day()
    final = exp.result()
    assert final.complete and NORTH_STAR in final.metrics
    assert not final.metrics[NORTH_STAR].cuped  # no pre-period, no covariate


def test_guardrail_breach_aborts_at_once_and_says_why():
    r = run_ab(
        "logging",
        "clickbait",
        "home_feed",
        2000,
        6,
        0.5,
        seed=1,
        guardrails=[Guardrail("daily_active_rate", 0.05)],
    )
    assert r.aborted and not r.complete and r.days_run < 6
    assert "daily_active_rate" in r.abort_reason and r.metrics == {}


def test_callback_can_abort():
    seen = []
    r = run_ab(
        "logging",
        "random",
        "home_feed",
        500,
        5,
        0.5,
        seed=1,
        on_day=lambda rep: seen.append(rep["day"]) or rep["day"] < 1,
    )
    assert seen == [0, 1] and r.aborted and "callback" in r.abort_reason


def test_same_seed_same_readout_and_restore_continues_identically(tmp_path):
    kwargs = dict(users=800, days=3, traffic_fraction=0.3, seed=9, salt="s")
    full = run_ab("logging", "popularity", "watch_next", **kwargs).to_dict()
    assert run_ab("logging", "popularity", "watch_next", **kwargs).to_dict() == full
    exp = ABExperiment("logging", "popularity", "watch_next", **kwargs)
    exp.run_day()
    exp.save(tmp_path / "state.npz")
    del exp
    resumed = ABExperiment.restore(tmp_path / "state.npz", "logging", "popularity")
    assert resumed.day == 1
    while not resumed.done:
        resumed.run_day()
    assert resumed.result().to_dict() == full
    with pytest.raises(SimulationError, match="saved with treatment"):
        ABExperiment.restore(tmp_path / "state.npz", "logging", "random")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"traffic_fraction": 1.0}, "traffic_fraction"),
        ({"traffic_fraction": 0.0}, "traffic_fraction"),
        ({"users": 0}, "users"),
        ({"days": 0}, "days"),
        ({"surface": "nope"}, "unknown surface"),
        ({"control": "nope"}, "unknown policy"),
        ({"guardrails": [Guardrail.__new__(Guardrail)]}, ""),
    ],
)
def test_bad_ab_input(kwargs, message):
    args = (
        dict(
            control="logging",
            treatment="random",
            surface="home_feed",
            users=100,
            days=1,
            traffic_fraction=0.5,
            seed=0,
        )
        | kwargs
    )
    if "guardrails" in kwargs:
        with pytest.raises(ConfigError):
            Guardrail("not_a_metric", 0.1)
        with pytest.raises(ConfigError):
            Guardrail("daily_active_rate", 1.5)
        return
    with pytest.raises(ConfigError, match=message):
        run_ab(**args)


class _BadShape:
    name = "bad"

    def score(self, batch):
        return np.zeros((1, 1), np.float32)


def test_a_policy_returning_the_wrong_shape_is_a_simulation_error():
    with pytest.raises(SimulationError, match="shape"):
        run_ab("logging", _BadShape(), "home_feed", 100, 1, 0.5, seed=0, pre_days=0)


def test_topk_matches_a_full_sort():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(50, 30)).astype(np.float32)  # many ties
    got = topk(scores, 4)
    for row, idx in zip(scores, got, strict=True):
        want = sorted(range(30), key=lambda j: (-row[j], j))[:4]
        assert list(idx) == want
