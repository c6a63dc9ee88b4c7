"""A/B statistics: per-metric read-outs, CUPED, and the sample-ratio-mismatch check.

All tests are two-sided z-tests on per-user values (arms hold hundreds to millions of
independent users, so the normal approximation is sound). The relative lift's confidence
interval — and its test, so that the two always agree — use the delta method for a ratio
of two independent means (Welch-style: each arm its own variance):

    Var(t̄/c̄) ≈ Var(t̄)/c̄² + t̄² Var(c̄)/c̄⁴

CUPED (Deng et al., 2013): with a pre-experiment covariate X of the same user,
``Y' = Y - θ (X - mean X)`` with θ = Cov(Y, X) / Var(X) pooled over both arms. The
assignment is independent of X, so the estimate stays unbiased while its variance shrinks
by the squared correlation of Y and X.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["MetricReadout", "SRMCheck", "normal_sf", "readout", "srm_check"]


def normal_sf(z: float) -> float:
    """Upper tail of the standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass(frozen=True)
class MetricReadout:
    """One metric's comparison of treatment against control."""

    metric: str
    control_mean: float
    treatment_mean: float
    abs_diff: float
    rel_lift: float
    """(treatment - control) / |control|."""
    ci_low: float
    """95% confidence interval of the relative lift."""
    ci_high: float
    p_value: float
    n_control: int
    n_treatment: int
    cuped: bool
    variance_reduction: float
    """Share of the difference's variance removed by CUPED (0 without it)."""

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def readout(
    metric: str,
    control: np.ndarray,
    treatment: np.ndarray,
    control_cov: np.ndarray | None = None,
    treatment_cov: np.ndarray | None = None,
    *,
    z: float = 1.959963984540054,
) -> MetricReadout:
    """Compare per-user values of two arms; CUPED when covariates are given and vary."""
    c = np.asarray(control, dtype=np.float64)
    t = np.asarray(treatment, dtype=np.float64)
    nc, nt = c.size, t.size
    if nc < 2 or nt < 2:
        nan = float("nan")
        return MetricReadout(metric, nan, nan, nan, nan, nan, nan, 1.0, nc, nt, False, 0.0)
    raw_var = c.var(ddof=1) / nc + t.var(ddof=1) / nt
    cuped = False
    reduction = 0.0
    yc, yt = c, t
    if control_cov is not None and treatment_cov is not None:
        xc = np.asarray(control_cov, dtype=np.float64)
        xt = np.asarray(treatment_cov, dtype=np.float64)
        x = np.concatenate([xc, xt])
        y = np.concatenate([c, t])
        vx = x.var()
        if vx > 1e-12:
            theta = float(np.mean((x - x.mean()) * (y - y.mean())) / vx)
            yc = c - theta * (xc - x.mean())
            yt = t - theta * (xt - x.mean())
            cuped = True
    mc, mt = float(c.mean()), float(t.mean())
    var_c, var_t = yc.var(ddof=1) / nc, yt.var(ddof=1) / nt
    se = math.sqrt(var_c + var_t)
    diff = float(yt.mean() - yc.mean())
    if cuped and raw_var > 0:
        reduction = max(0.0, 1.0 - (var_c + var_t) / raw_var)
    amc, amt = float(yc.mean()), float(yt.mean())
    if abs(amc) < 1e-12:
        rel, lo, hi = float("nan"), float("nan"), float("nan")
        p = (1.0 if diff == 0.0 else 0.0) if se == 0.0 else 2.0 * normal_sf(abs(diff) / se)
    else:
        # Adjusted means keep the covariate adjustment in the ratio (ȳ'_c = c̄ - θ(x̄_c - x̄)).
        # The test uses the same delta-method variance as the interval, so "p < 0.05" and
        # "the 95% CI excludes 0" always agree.
        rel = diff / abs(amc)
        se_rel = math.sqrt(var_t / amc**2 + amt**2 * var_c / amc**4)
        lo, hi = rel - z * se_rel, rel + z * se_rel
        p = (1.0 if rel == 0.0 else 0.0) if se_rel == 0.0 else 2.0 * normal_sf(abs(rel) / se_rel)
    return MetricReadout(
        metric=metric,
        control_mean=mc,
        treatment_mean=mt,
        abs_diff=diff,
        rel_lift=rel,
        ci_low=lo,
        ci_high=hi,
        p_value=min(1.0, p),
        n_control=nc,
        n_treatment=nt,
        cuped=cuped,
        variance_reduction=reduction,
    )


@dataclass(frozen=True)
class SRMCheck:
    """Sample-ratio mismatch: observed arm sizes against the configured split."""

    expected_fraction: float
    n_control: int
    n_treatment: int
    chi2: float
    p_value: float
    valid: bool
    """False when p < threshold: the split is broken and the read-out cannot be trusted."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def srm_check(
    n_control: int, n_treatment: int, treatment_fraction: float, *, threshold: float = 0.001
) -> SRMCheck:
    """Chi-squared goodness of fit (1 degree of freedom) of the arm sizes."""
    n = n_control + n_treatment
    exp_t = n * treatment_fraction
    exp_c = n - exp_t
    if n == 0 or exp_t <= 0 or exp_c <= 0:
        return SRMCheck(treatment_fraction, n_control, n_treatment, 0.0, 1.0, n > 0)
    chi2 = (n_treatment - exp_t) ** 2 / exp_t + (n_control - exp_c) ** 2 / exp_c
    # Chi-squared with 1 dof: P(X > x) = 2 * P(Z > sqrt(x)).
    p = 2.0 * normal_sf(math.sqrt(chi2))
    return SRMCheck(treatment_fraction, n_control, n_treatment, chi2, p, p >= threshold)
