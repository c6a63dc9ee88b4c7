import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evorec.simulator.ab import assign
from evorec.simulator.stats import readout, srm_check


def test_readout_known_values():
    c = np.array([1.0, 2.0, 3.0, 4.0])
    t = np.array([2.0, 3.0, 4.0, 5.0])
    r = readout("m", c, t)
    assert r.control_mean == 2.5 and r.treatment_mean == 3.5
    assert r.abs_diff == 1.0 and abs(r.rel_lift - 0.4) < 1e-12
    assert r.ci_low < 0.4 < r.ci_high and 0 < r.p_value < 1


def test_cuped_shrinks_variance_without_bias():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    y = 2.0 * x + rng.normal(size=20_000) + 5.0
    arm = rng.random(20_000) < 0.5
    y_t = y[arm] + 0.1
    plain = readout("m", y[~arm], y_t)
    adjusted = readout("m", y[~arm], y_t, x[~arm], x[arm])
    assert adjusted.cuped and adjusted.variance_reduction > 0.7
    assert abs(adjusted.abs_diff - 0.1) < 0.05
    assert (adjusted.ci_high - adjusted.ci_low) < 0.6 * (plain.ci_high - plain.ci_low)


def test_srm_check_flags_imbalance_only():
    assert srm_check(5000, 5000, 0.5).valid
    assert srm_check(5100, 4900, 0.5).valid  # p ~ 0.046: not a mismatch at 0.001
    assert not srm_check(5500, 4500, 0.5).valid
    assert srm_check(9000, 1000, 0.1).valid


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(200, 2000))
def test_readout_ci_excludes_zero_exactly_when_significant(seed, n):
    # The 95% CI excludes 0 exactly when p < 0.05 (test and interval share their variance).
    rng = np.random.default_rng(seed)
    c, t = rng.exponential(size=n), rng.exponential(size=n)
    r = readout("m", c, t)
    assert (r.p_value < 0.05) == (r.ci_low > 0 or r.ci_high < 0)


def test_assignment_is_deterministic_and_matches_the_fraction():
    ids = np.arange(100_000)
    a = assign(ids, "exp-1", 0.3)
    assert np.array_equal(a, assign(ids, "exp-1", 0.3))
    assert abs(a.mean() - 0.3) < 0.01
    b = assign(ids, "exp-2", 0.3)
    assert 0.05 < (a & b).mean() < 0.13  # independent salts split independently


def test_aa_false_positive_rate_over_200_splits(aa_experiment):
    """Honest statistics: 500 random A/A splits (at least 200 asked) of real simulated users, alpha = 0.05."""
    exp = aa_experiment
    ids = np.arange(exp.config["users"])
    for metric in ("active_days", "time_spent"):
        y, x = exp.totals[metric], exp.pre[metric]
        hits = 0
        for i in range(500):
            t = assign(ids, f"aa-{metric}-{i}", 0.5)
            r = readout(metric, y[~t], y[t], x[~t], x[t])
            hits += r.p_value < 0.05
        rate = hits / 500
        assert 0.02 <= rate <= 0.08, (metric, rate)
