import json

import numpy as np
import pytest

from evorec.errors import ConfigError, SimulationError
from evorec.simulator.ab import NORTH_STAR, Guardrail, assign
from evorec.simulator.multi_ab import (
    CONTROL,
    MULTI_AB_METRICS,
    MultiABExperiment,
    assign_arms,
    run_multi_ab,
)
from evorec.simulator.pipeline import PipelinePolicy, apply_fusion_delta, baseline_fusion


def quality_pipeline(weight, name):
    """The baseline with ``weight`` × quality added to ranking and re-ranking."""
    cfg = apply_fusion_delta(
        baseline_fusion(),
        [
            {"op": "add", "path": "/ranking/weights/quality", "value": {"weight": weight}},
            {"op": "add", "path": "/re_ranking/weights/quality", "value": {"weight": weight}},
        ],
    )
    return PipelinePolicy(cfg, name=name)


def diverse_pipeline():
    cfg = apply_fusion_delta(
        baseline_fusion(),
        [{"op": "replace", "path": "/re_ranking/diversity_penalty", "value": 1.0}],
    )
    return PipelinePolicy(cfg, name="diverse")


class CallDays:
    """A policy wrapper remembering the days it served."""

    def __init__(self, policy):
        self.policy = policy
        self.name = policy.name
        self.days = set()

    def score(self, batch):
        self.days.add(batch.day)
        return self.policy.score(batch)


@pytest.fixture(scope="module")
def three_treatments():
    """Baseline pipeline vs quality, negative quality and a diversity penalty (home_feed)."""
    return run_multi_ab(
        PipelinePolicy(baseline_fusion(), name="baseline"),
        {
            "quality": quality_pipeline(3.0, "quality"),
            "anti_quality": quality_pipeline(-5.0, "anti-quality"),
            "diverse": diverse_pipeline(),
        },
        "home_feed",
        4000,
        4,
        seed=0,
    )


def test_quality_and_anti_quality_pipelines_separate_on_the_north_star(three_treatments):
    r = three_treatments
    assert r.complete and r.valid and not r.dropped
    assert r.arms == [CONTROL, "quality", "anti_quality", "diverse"]
    good = r.north_star_readout("quality")
    bad = r.north_star_readout("anti_quality")
    assert good.rel_lift > 0 and r.adjusted_p["quality"][NORTH_STAR] < 0.05
    assert bad.rel_lift < 0
    assert good.ci_low > bad.ci_high  # the two confidence intervals do not overlap
    assert r.readouts["quality"]["satisfaction"].treatment_mean > (
        r.readouts["anti_quality"]["satisfaction"].treatment_mean
    )


def test_every_treatment_gets_every_metric_with_bonferroni(three_treatments):
    r = three_treatments
    for t in r.treatments:
        assert set(r.readouts[t]) == set(MULTI_AB_METRICS)
        assert r.srm[t].valid
        for metric, m in r.readouts[t].items():
            # Diversity leaves out users who were never served.
            n_c, n_t = r.srm[t].n_control, r.srm[t].n_treatment
            if metric == "diversity":
                assert 0 < m.n_control <= n_c and 0 < m.n_treatment <= n_t
            else:
                assert (m.n_control, m.n_treatment) == (n_c, n_t)
            assert r.adjusted_p[t][metric] == pytest.approx(min(1.0, 3 * m.p_value))
        assert r.readouts[t][NORTH_STAR].cuped  # the pre-period gives covariates
    # Shares are equal by default and every user is in exactly one arm.
    assert r.config["shares"] == pytest.approx([0.25] * 4)
    n = r.srm["quality"].n_control + sum(r.srm[t].n_treatment for t in r.treatments)
    assert n == 4000


def test_diversity_metric_sees_the_diversity_penalty(three_treatments):
    m = three_treatments.readouts["diverse"]["diversity"]
    assert m.rel_lift > 0.2 and m.p_value < 1e-6
    assert 1.0 <= m.control_mean <= 5.0 and m.treatment_mean <= 5.0


def test_result_is_plain_json_and_readable(three_treatments):
    d = three_treatments.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["readouts"]["quality"][NORTH_STAR]["p_value"] >= 0
    table = three_treatments.format_text()
    for name in ("quality", "anti_quality", "diverse", "Bonferroni", "active_days *"):
        assert name in table


def test_a_breaching_treatment_is_dropped_and_the_others_continue():
    bad = CallDays(quality_pipeline(-5.0, "anti-quality"))
    seen = []
    r = run_multi_ab(
        PipelinePolicy(baseline_fusion(), name="baseline"),
        {"quality": quality_pipeline(3.0, "quality"), "anti_quality": bad},
        "home_feed",
        3000,
        6,
        seed=1,
        guardrails=[Guardrail("daily_active_rate", 0.05)],
        on_day=seen.append,
    )
    assert r.complete and r.days_run == 6 and not r.aborted
    assert set(r.dropped) == {"anti_quality"} and "daily_active_rate" in r.dropped["anti_quality"]
    drop_day = next(d["day"] for d in seen if d["dropped"])
    assert drop_day < 5
    assert seen[drop_day]["breaches"]["anti_quality"][0]["metric"] == "daily_active_rate"
    # Served by the control from the next day on; no read-out for it, one for the other.
    assert max(bad.days) == drop_day + r.config["pre_days"]
    assert "anti_quality" not in r.readouts and set(r.readouts) == {"quality"}
    assert r.adjusted_p["quality"][NORTH_STAR] == pytest.approx(
        min(1.0, 2 * r.readouts["quality"][NORTH_STAR].p_value)
    )
    assert "DROPPED" in r.format_text()


def test_same_seed_same_result_and_salt_changes_the_split():
    def run(salt="mab"):
        return run_multi_ab(
            "logging",
            {"a": quality_pipeline(1.0, "a"), "b": "clickbait"},
            "home_feed",
            600,
            2,
            seed=4,
            salt=salt,
            pre_days=1,
        ).to_dict()

    first = run()
    assert first == run()
    other = run("another")
    assert other["srm"]["a"]["n_treatment"] != first["srm"]["a"]["n_treatment"] or (
        other["srm"]["b"]["n_treatment"] != first["srm"]["b"]["n_treatment"]
    )


def test_assignment_follows_the_shares_and_matches_the_two_arm_split():
    ids = np.arange(200_000, dtype=np.int64)
    arm = assign_arms(ids, "s", [0.5, 0.3, 0.2])
    shares = np.bincount(arm, minlength=3) / ids.size
    assert np.allclose(shares, [0.5, 0.3, 0.2], atol=0.005)
    # Two arms: exactly the A/B harness's split.
    assert np.array_equal(assign_arms(ids, "s", [0.6, 0.4]) == 1, ~assign(ids, "s", 0.6))


def test_unequal_traffic_is_checked_by_srm_per_pair():
    r = run_multi_ab(
        "logging",
        {"a": "logging", "b": "logging"},
        "home_feed",
        2000,
        1,
        traffic_fraction_per_arm={"a": 0.1, "b": 0.3},
        pre_days=0,
    )
    assert r.config["shares"] == pytest.approx([0.6, 0.1, 0.3])
    assert r.valid
    assert r.srm["a"].expected_fraction == pytest.approx(0.1 / 0.7)
    assert r.srm["b"].n_treatment > 2 * r.srm["a"].n_treatment


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"treatments": {}}, "at least one treatment"),
        ({"treatments": {"control": "logging"}}, "control"),
        ({"traffic_fraction_per_arm": 0.5}, "control needs a share"),
        ({"traffic_fraction_per_arm": {"a": 0.2}}, "every treatment"),
        ({"traffic_fraction_per_arm": 0.0}, r"\(0, 1\)"),
        ({"guardrails": [{"metric": "nope", "max_drop": 0.1}]}, "unknown guardrail"),
        ({"pre_days": -1}, "pre_days"),
    ],
)
def test_bad_settings_are_refused_before_simulating(kwargs, match):
    args = {"treatments": {"a": "logging", "b": "random"}, **kwargs}
    treatments = args.pop("treatments")
    with pytest.raises(ConfigError, match=match):
        MultiABExperiment("logging", treatments, "home_feed", 100, 1, **args)


def test_a_pipeline_that_does_not_fit_the_surface_is_refused():
    wide = apply_fusion_delta(
        baseline_fusion(), [{"op": "replace", "path": "/re_ranking/keep", "value": 4}]
    )
    with pytest.raises(ConfigError, match="/re_ranking/keep"):
        MultiABExperiment("logging", {"a": PipelinePolicy(wide)}, "home_feed", 100, 1)


def test_an_ended_experiment_refuses_more_days():
    exp = MultiABExperiment("logging", {"a": "random"}, "home_feed", 200, 1, pre_days=0)
    exp.run_day()
    assert exp.done
    with pytest.raises(SimulationError):
        exp.run_day()
    with pytest.raises(SimulationError):
        exp.save("/tmp/never-written.npz")
