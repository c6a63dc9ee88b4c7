"""Several treatments against one control in one simulated experiment.

The multi-arm sibling of :mod:`evorec.simulator.ab` (same world, statistics, metrics and
guardrails; read that module first):

1. **Assignment.** Users are hashed with the salt exactly as :func:`~evorec.simulator.ab.assign`
   does, and the hash's unit interval is cut into 1 + n consecutive shares: the control's,
   then each treatment's in the order given (equal shares by default).
2. **Pre-period.** ``pre_days`` days (the surface's ``ab_pre_days`` by default) with the
   control serving everybody; per-user totals are the CUPED covariates.
3. **Experiment days.** Each arm is served by its own policy in the same world. After each
   day every live treatment's guardrails are checked against the control (as in
   :class:`~evorec.simulator.ab.ABExperiment`); a breaching treatment is **dropped** — its
   users are served by the control from the next day, the reason is recorded, and it gets
   no read-out — while the experiment continues for the others. ``on_day`` returning
   ``False`` stops the whole experiment.
4. **Read-out at the horizon**, per surviving treatment against the control: every horizon
   metric (:data:`MULTI_AB_METRICS`: the north-star metrics of :mod:`~evorec.simulator.ab`
   plus ``diversity``) with :func:`~evorec.simulator.stats.readout`, a sample-ratio check
   per pair, and Bonferroni-adjusted p-values (``p × number of treatments``, capped at 1)
   for the multiple comparisons.

``diversity`` is the mean number of distinct topics per served slate, per user, over the
experiment days (users never served are left out; no CUPED covariate).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evorec.errors import ConfigError, SimulationError
from evorec.simulator.ab import (
    _DAILY_SOURCE,
    NORTH_STAR,
    NORTH_STAR_METRICS,
    ABExperiment,
    Guardrail,
    _plain,
    _policy_name,
    _resolve_policy,
    assign,
    guardrail_breaches,
)
from evorec.simulator.logs import validate_sizes
from evorec.simulator.policy import Policy, ServingBatch
from evorec.simulator.stats import MetricReadout, SRMCheck, readout, srm_check
from evorec.simulator.surfaces import Surface, get_surface

__all__ = [
    "CONTROL",
    "MULTI_AB_METRICS",
    "MultiABExperiment",
    "MultiABResult",
    "assign_arms",
    "run_multi_ab",
]

#: The control arm's name.
CONTROL = "control"

#: Horizon metrics of a multi-arm experiment and what they mean.
MULTI_AB_METRICS: dict[str, str] = {
    **NORTH_STAR_METRICS,
    "diversity": "mean distinct topics per served slate during the experiment",
}


def assign_arms(user_ids: np.ndarray, salt: str, shares: Sequence[float]) -> np.ndarray:
    """[U] int64 arm index: the salted hash's unit interval cut into ``shares`` in order."""
    bounds = np.cumsum(np.asarray(shares, dtype=np.float64))[:-1]
    arm = np.zeros(np.asarray(user_ids).shape[0], dtype=np.int64)
    for b in bounds:
        arm += ~assign(user_ids, salt, float(b))
    return arm


class _SlateRecorder:
    """Wraps a policy; records distinct topics per served slate into shared [U] totals."""

    def __init__(self, policy: Policy, k: int, totals: np.ndarray, counts: np.ndarray) -> None:
        self.policy = policy
        self.name = _policy_name(policy)
        self.k = k
        self.totals = totals
        self.counts = counts

    def score(self, batch: ServingBatch) -> np.ndarray:
        from evorec.simulator.world import topk

        scores = self.policy.score(batch)
        arr = np.asarray(scores)
        if arr.ndim == 2 and arr.shape == (batch.user_ids.shape[0], batch.doc_ids.shape[0]):
            if np.all(np.isfinite(arr)):  # the world reports malformed scores itself
                topics = np.sort(np.asarray(batch.doc_topic)[topk(arr, self.k)], axis=1)
                distinct = 1 + (np.diff(topics, axis=1) != 0).sum(axis=1)
                self.totals[batch.user_ids] += distinct
                self.counts[batch.user_ids] += 1
        return scores


@dataclass
class MultiABResult:
    """The read-out of a multi-arm experiment (so far, or complete)."""

    config: dict[str, Any]
    arms: list[str]
    """Arm names: ``control`` first, then the treatments in the order given."""
    complete: bool
    """The horizon has ended: read-outs exist for every treatment not dropped."""
    aborted: bool
    abort_reason: str | None
    days_run: int
    srm: dict[str, SRMCheck]
    """Per treatment: its sample-ratio check against the control."""
    readouts: dict[str, dict[str, MetricReadout]] = field(default_factory=dict)
    """``readouts[treatment][metric]`` against the control (surviving treatments)."""
    adjusted_p: dict[str, dict[str, float]] = field(default_factory=dict)
    """Bonferroni-adjusted p-values: ``min(1, p × number of treatments)``."""
    dropped: dict[str, str] = field(default_factory=dict)
    """Treatments dropped for a guardrail breach, with the reason."""
    daily: list[dict[str, Any]] = field(default_factory=list)
    north_star: str = NORTH_STAR

    @property
    def treatments(self) -> list[str]:
        return self.arms[1:]

    @property
    def valid(self) -> bool:
        """Every pair passes its sample-ratio check."""
        return all(s.valid for s in self.srm.values())

    def north_star_readout(self, treatment: str) -> MetricReadout | None:
        return self.readouts.get(treatment, {}).get(self.north_star)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (Python numbers; NaN, where a lift is undefined, as None)."""
        return _plain(
            {
                "config": self.config,
                "arms": self.arms,
                "complete": self.complete,
                "aborted": self.aborted,
                "abort_reason": self.abort_reason,
                "days_run": self.days_run,
                "valid": self.valid,
                "north_star": self.north_star,
                "srm": {k: v.to_dict() for k, v in self.srm.items()},
                "readouts": {
                    t: {m: r.to_dict() for m, r in ms.items()} for t, ms in self.readouts.items()
                },
                "adjusted_p": self.adjusted_p,
                "dropped": self.dropped,
                "daily": self.daily,
            }
        )

    def format_text(self) -> str:
        """A human-readable read-out: one table per treatment."""
        c = self.config
        n = len(self.treatments)
        lines = [
            f"multi-arm A/B on {c['surface']}: control {c['policies'][CONTROL]!r} vs "
            f"{n} treatment{'s' if n != 1 else ''}, {c['users']} users, "
            f"{self.days_run}/{c['days']} days, seed {c['seed']}",
            "arms: "
            + ", ".join(f"{a} {s:.0%}" for a, s in zip(self.arms, c["shares"], strict=True)),
        ]
        if self.aborted:
            lines.append(f"ABORTED: {self.abort_reason}")
        if not self.complete:
            lines.append("horizon metrics are delayed until the horizon ends")
        for t in self.treatments:
            s = self.srm[t]
            lines.append("")
            lines.append(
                f"[{t}] {c['policies'][t]!r}: n = {s.n_treatment} vs {s.n_control}; "
                f"SRM p = {s.p_value:.3g} -> {'valid' if s.valid else 'INVALID'}"
            )
            if t in self.dropped:
                lines.append(f"  DROPPED: {self.dropped[t]}")
                continue
            if t not in self.readouts:
                continue
            lines.append(
                f"  {'metric':<14} {'control':>10} {'treatment':>10} {'lift':>8} "
                f"{'95% CI':>19} {'p':>8} {'p(bonf)':>8}"
            )
            for name, m in self.readouts[t].items():
                star = " *" if name == self.north_star else ""
                lines.append(
                    f"  {name + star:<14} {m.control_mean:>10.4g} {m.treatment_mean:>10.4g} "
                    f"{m.rel_lift:>+8.2%} [{m.ci_low:>+8.2%}, {m.ci_high:>+8.2%}] "
                    f"{m.p_value:>8.3g} {self.adjusted_p[t][name]:>8.3g}"
                )
        if n > 1:
            lines.append("")
            lines.append(f"p(bonf): Bonferroni-adjusted for {n} treatments (p × {n}, capped at 1)")
        return "\n".join(lines)


def _shares(names: list[str], traffic: float | Mapping[str, float] | None) -> list[float]:
    n = len(names)
    if traffic is None:
        return [1.0 / (n + 1)] * (n + 1)
    if isinstance(traffic, Mapping):
        unknown = set(traffic) - set(names)
        if unknown or set(traffic) != set(names):
            raise ConfigError(
                "traffic_fraction_per_arm must name every treatment exactly: "
                f"got {sorted(traffic)}, treatments {names}"
            )
        per = [traffic[t] for t in names]
    else:
        per = [traffic] * n
    for f in per:
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0.0 < float(f) < 1.0:
            raise ConfigError(f"a treatment's traffic fraction must lie in (0, 1), got {f!r}")
    control = 1.0 - float(sum(per))
    if control <= 0.0:
        raise ConfigError(
            f"the treatments' traffic fractions sum to {sum(per):.3g}: the control needs a share"
        )
    return [control, *(float(f) for f in per)]


class MultiABExperiment(ABExperiment):
    """A day-by-day multi-arm experiment (see the module docstring).

    It reuses :class:`~evorec.simulator.ab.ABExperiment`'s pre-period and daily reading;
    saving and restoring are not supported.
    """

    def __init__(
        self,
        control: Policy | str,
        treatments: Mapping[str, Policy | str],
        surface: str | Path | Surface,
        users: int,
        days: int,
        *,
        traffic_fraction_per_arm: float | Mapping[str, float] | None = None,
        seed: int = 0,
        guardrails: Sequence[Guardrail | Mapping[str, Any]] = (),
        salt: str = "mab",
        pre_days: int | None = None,
    ) -> None:
        from evorec.simulator.world import World

        surf = get_surface(surface)
        users, days = validate_sizes(users, days)
        if not isinstance(treatments, Mapping) or not treatments:
            raise ConfigError(
                "a multi-arm experiment needs at least one treatment (a name → policy map)"
            )
        names = [str(t) for t in treatments]
        if CONTROL in names:
            raise ConfigError(f"{CONTROL!r} is the control arm's name; rename that treatment")
        shares = _shares(names, traffic_fraction_per_arm)
        pre = surf.ab_pre_days if pre_days is None else int(pre_days)
        if pre < 0:
            raise ConfigError(f"pre_days must be >= 0, got {pre}")
        self.surface = surf
        self.control = _resolve_policy(control, surf)
        self.treatments = {
            t: _resolve_policy(p, surf) for t, p in zip(names, treatments.values(), strict=True)
        }
        for p in (self.control, *self.treatments.values()):
            check = getattr(p, "check_surface", None)
            if callable(check):
                check(surf)
        self.guardrails = tuple(
            g if isinstance(g, Guardrail) else Guardrail(**g) for g in guardrails
        )
        self.arms = [CONTROL, *names]
        self.config: dict[str, Any] = {
            "surface": surf.name,
            "policies": {
                CONTROL: _policy_name(self.control),
                **{t: _policy_name(p) for t, p in self.treatments.items()},
            },
            "arms": list(self.arms),
            "shares": shares,
            "users": users,
            "days": days,
            "seed": int(seed),
            "salt": str(salt),
            "pre_days": pre,
            "guardrails": [asdict(g) for g in self.guardrails],
        }
        user_ids = np.arange(users, dtype=np.int64)
        self.arm = assign_arms(user_ids, str(salt), shares)
        self.world = World(surf, users, int(seed))
        self.day = 0
        self.pre_done = pre == 0
        self.aborted = False
        self.abort_reason: str | None = None
        self.dropped: dict[str, str] = {}
        self.daily: list[dict[str, Any]] = []
        zeros = np.zeros(users, dtype=np.float64)
        self.totals = {k: zeros.copy() for k in NORTH_STAR_METRICS}
        self.pre = {k: zeros.copy() for k in self.totals}
        self._div_total = zeros.copy()
        self._div_count = zeros.copy()
        k = surf.slate_size
        self._served = [
            _SlateRecorder(p, k, self._div_total, self._div_count)
            for p in (self.control, *self.treatments.values())
        ]

    def _policies(self) -> list[_SlateRecorder]:
        """Per arm: its recorder, or the control's for a dropped treatment."""
        return [
            self._served[0] if a != 0 and self.arms[a] in self.dropped else rec
            for a, rec in enumerate(self._served)
        ]

    def run_day(self) -> dict[str, Any]:
        """Simulate one experiment day; returns its report (arm means, breaches, drops)."""
        if self.done:
            raise SimulationError("the experiment has already ended")
        d = self._serve_day(self.arm, self._policies())
        report: dict[str, Any] = {"day": self.day, "arms": {}, "breaches": {}, "dropped": []}
        for a, name in enumerate(self.arms):
            mask = self.arm == a
            report["arms"][name] = {
                metric: float(d[src][mask].mean()) if mask.any() else None
                for metric, src in _DAILY_SOURCE.items()
            }
        control = self.arm == 0
        for a, name in enumerate(self.arms[1:], start=1):
            if name in self.dropped or not self.guardrails:
                continue
            breaches = guardrail_breaches(self.guardrails, d, control, self.arm == a)
            if breaches:
                b = breaches[0]
                report["breaches"][name] = breaches
                report["dropped"].append(name)
                self.dropped[name] = (
                    f"guardrail {b['metric']} breached on day {self.day}: "
                    f"{b['rel_lift']:+.1%} < -{b['max_drop']:.0%} "
                    f"(one-sided p = {b['p_value']:.2g}); served by the control from day "
                    f"{self.day + 1}"
                )
        self.daily.append(report)
        self.day += 1
        return report

    def result(self) -> MultiABResult:
        """Per-pair SRM checks always; per-treatment read-outs once the horizon ended."""
        cfg = self.config
        n_c = int((self.arm == 0).sum())
        srm: dict[str, SRMCheck] = {}
        for a, name in enumerate(self.arms[1:], start=1):
            n_t = int((self.arm == a).sum())
            share = cfg["shares"][a] / (cfg["shares"][0] + cfg["shares"][a])
            srm[name] = srm_check(n_c, n_t, share)
        complete = self.day >= cfg["days"] and not self.aborted
        readouts: dict[str, dict[str, MetricReadout]] = {}
        adjusted: dict[str, dict[str, float]] = {}
        if complete:
            m = len(self.arms) - 1
            use_cov = cfg["pre_days"] > 0
            served = self._div_count > 0
            diversity = np.divide(
                self._div_total, self._div_count, out=np.zeros_like(self._div_total), where=served
            )
            c = self.arm == 0
            for a, name in enumerate(self.arms[1:], start=1):
                if name in self.dropped:
                    continue
                t = self.arm == a
                metrics: dict[str, MetricReadout] = {}
                for metric in NORTH_STAR_METRICS:
                    y, x = self.totals[metric], self.pre[metric]
                    metrics[metric] = readout(
                        metric,
                        y[c],
                        y[t],
                        x[c] if use_cov else None,
                        x[t] if use_cov else None,
                    )
                metrics["diversity"] = readout(
                    "diversity", diversity[c & served], diversity[t & served]
                )
                readouts[name] = metrics
                adjusted[name] = {k: min(1.0, r.p_value * m) for k, r in metrics.items()}
        return MultiABResult(
            config=dict(cfg),
            arms=list(self.arms),
            complete=complete,
            aborted=self.aborted,
            abort_reason=self.abort_reason,
            days_run=self.day,
            srm=srm,
            readouts=readouts,
            adjusted_p=adjusted,
            dropped=dict(self.dropped),
            daily=list(self.daily),
        )

    def run(self, on_day: Callable[[dict[str, Any]], bool | None] | None = None) -> MultiABResult:
        """Run the remaining days (``on_day`` returning False stops early); the result."""
        while not self.done:
            report = self.run_day()
            if on_day is not None and not self.aborted and on_day(report) is False:
                self.abort(f"stopped by the on_day callback after day {report['day']}")
        return self.result()

    def save(self, path: str | Path) -> Path:  # noqa: ARG002 - same signature as the parent
        raise SimulationError("saving a multi-arm experiment is not supported")

    @classmethod
    def restore(cls, path: str | Path, control: Any, treatment: Any) -> ABExperiment:  # noqa: ARG003
        raise SimulationError("restoring a multi-arm experiment is not supported")


def run_multi_ab(
    control: Policy | str,
    treatments: Mapping[str, Policy | str],
    surface: str | Path | Surface,
    users: int,
    days: int,
    *,
    traffic_fraction_per_arm: float | Mapping[str, float] | None = None,
    seed: int = 0,
    guardrails: Sequence[Guardrail | Mapping[str, Any]] = (),
    salt: str = "mab",
    pre_days: int | None = None,
    on_day: Callable[[dict[str, Any]], bool | None] | None = None,
) -> MultiABResult:
    """Run a whole multi-arm experiment; ``on_day`` may return False to stop it."""
    options = {"seed": seed, "guardrails": guardrails, "salt": salt, "pre_days": pre_days}
    exp = MultiABExperiment(
        control,
        treatments,
        surface,
        users,
        days,
        traffic_fraction_per_arm=traffic_fraction_per_arm,
        **options,
    )
    return exp.run(on_day)
