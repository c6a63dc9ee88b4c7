"""The A/B harness: two policies, one simulated world, delayed north-star read-outs.

An experiment on ``users`` simulated users of a surface:

1. **Assignment.** Each user is hashed with the experiment's salt (SplitMix64 over the
   user id and a BLAKE2b digest of the salt) to a number in [0, 1); users below
   ``traffic_fraction`` get the treatment, everybody else the control (today's
   production). Deterministic: the same salt always splits the same way.
2. **Pre-period.** For ``pre_days`` days (the surface's ``ab_pre_days`` by default)
   everybody is served by the control. Per-user totals of that period are the CUPED
   covariates.
3. **Experiment days.** Each arm's users are served by their own policy in the same
   world (one batched call per arm and step). After each day the *guardrail* metrics —
   daily active rate, clicks per user, time spent per user, mean satisfaction (0-1) — are
   compared between the arms; a guardrail breaches when the treatment is worse by more
   than its ``max_drop`` (relative) and the drop is significant one-sided at p < 0.01.
   A breach, or a ``False`` from the ``on_day`` callback, aborts the experiment at once.
4. **Read-out, delayed.** The north-star metrics are per-user totals over the whole
   horizon and only exist when it ends: ``active_days`` (the north star: days a user came
   back), ``time_spent``, final ``satisfaction``, and ``clicks`` (what a click model
   optimises, for contrast). Each comes with arm means, relative lift, a 95% confidence
   interval, a p-value and CUPED (:mod:`evorec.simulator.stats`), plus a chi-squared
   sample-ratio-mismatch check (p < 0.001 marks the experiment invalid).

An experiment can be saved after any day and restored (:meth:`ABExperiment.save`,
:meth:`ABExperiment.restore`); the world's randomness is keyed by step, so a restored
experiment continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evorec.errors import ConfigError, SimulationError
from evorec.simulator.logs import validate_sizes
from evorec.simulator.policy import Policy
from evorec.simulator.stats import MetricReadout, SRMCheck, readout, srm_check
from evorec.simulator.surfaces import Surface, get_surface

__all__ = [
    "DAILY_METRICS",
    "NORTH_STAR",
    "NORTH_STAR_METRICS",
    "ABExperiment",
    "ABResult",
    "Guardrail",
    "assign",
    "guardrail_breaches",
    "run_ab",
]

#: The north star: mean number of days a user was active over the experiment's horizon.
NORTH_STAR = "active_days"

#: Horizon metrics (available only when the experiment ends) and what they mean.
NORTH_STAR_METRICS: dict[str, str] = {
    "active_days": "days the user came to the platform during the experiment (north star)",
    "time_spent": "seconds watched during the experiment",
    "satisfaction": "the user's satisfaction at the end of the experiment, on a 0-1 scale "
    "(the latent satisfaction through a logistic function; 0.5 is neutral)",
    "clicks": "clicks during the experiment (what a click model optimises; not a goal)",
}

#: Daily guardrail metrics (arm means over a day) and what they mean.
DAILY_METRICS: dict[str, str] = {
    "daily_active_rate": "share of the arm's users active that day",
    "daily_clicks_per_user": "clicks per user that day",
    "daily_time_spent": "seconds watched per user that day",
    "daily_satisfaction": "mean satisfaction (0-1 scale) at the end of the day",
}

_DAILY_SOURCE = {
    "daily_active_rate": "active",
    "daily_clicks_per_user": "clicks",
    "daily_time_spent": "time_spent",
    "daily_satisfaction": "satisfaction",
}

_GUARDRAIL_P = 0.01


@dataclass(frozen=True)
class Guardrail:
    """Abort when ``metric`` (a daily metric) drops by more than ``max_drop`` (relative)."""

    metric: str
    max_drop: float

    def __post_init__(self) -> None:
        if self.metric not in DAILY_METRICS:
            known = ", ".join(DAILY_METRICS)
            raise ConfigError(f"unknown guardrail metric {self.metric!r}: use one of {known}")
        drop = self.max_drop
        if isinstance(drop, bool) or not isinstance(drop, int | float) or not 0.0 < drop <= 1.0:
            raise ConfigError(f"guardrail max_drop must lie in (0, 1], got {self.max_drop!r}")


def guardrail_breaches(
    guardrails: Sequence[Guardrail],
    day_values: Mapping[str, np.ndarray],
    control: np.ndarray,
    treatment: np.ndarray,
) -> list[dict[str, Any]]:
    """Guardrails breached by one treatment on one day (``control``/``treatment``: [U] masks).

    A breach: the treatment is worse by more than ``max_drop`` (relative) and the drop is
    significant one-sided at p < 0.01 — the rule of
    :class:`ABExperiment` and :class:`~evorec.simulator.multi_ab.MultiABExperiment`.
    """
    out = []
    for g in guardrails:
        values = day_values[_DAILY_SOURCE[g.metric]]
        r = readout(g.metric, values[control], values[treatment])
        p_worse = r.p_value / 2.0 if r.abs_diff < 0 else 1.0 - r.p_value / 2.0
        if r.rel_lift < -g.max_drop and p_worse < _GUARDRAIL_P:
            out.append(
                {
                    "metric": g.metric,
                    "rel_lift": round(r.rel_lift, 6),
                    "max_drop": g.max_drop,
                    "p_value": round(p_worse, 6),
                }
            )
    return out


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def assign(user_ids: np.ndarray, salt: str, traffic_fraction: float) -> np.ndarray:
    """[U] bool: True for the treatment arm (deterministic in user id and salt)."""
    key = int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(), "little")
    h = _splitmix64(np.asarray(user_ids, dtype=np.uint64) ^ np.uint64(key))
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < traffic_fraction


@dataclass
class ABResult:
    """The read-out of an experiment (so far, or complete)."""

    config: dict[str, Any]
    complete: bool
    """The horizon has ended: the north-star metrics are available."""
    aborted: bool
    abort_reason: str | None
    days_run: int
    srm: SRMCheck
    metrics: dict[str, MetricReadout] = field(default_factory=dict)
    daily: list[dict[str, Any]] = field(default_factory=list)
    north_star: str = NORTH_STAR

    @property
    def valid(self) -> bool:
        return self.srm.valid

    def north_star_readout(self) -> MetricReadout | None:
        return self.metrics.get(self.north_star)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (Python numbers; NaN, where a lift is undefined, as None)."""
        return _plain(self._dict())

    def _dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "complete": self.complete,
            "aborted": self.aborted,
            "abort_reason": self.abort_reason,
            "days_run": self.days_run,
            "valid": self.valid,
            "srm": self.srm.to_dict(),
            "north_star": self.north_star,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "daily": self.daily,
        }

    def format_text(self) -> str:
        """A human-readable read-out table."""
        c = self.config
        lines = [
            f"A/B on {c['surface']}: {c['control']} (control) vs {c['treatment']} (treatment), "
            f"{c['users']} users, {self.days_run}/{c['days']} days, "
            f"traffic {c['traffic_fraction']:.0%}, seed {c['seed']}",
            f"split: control {self.srm.n_control}, treatment {self.srm.n_treatment}; "
            f"SRM p = {self.srm.p_value:.3g} -> {'valid' if self.srm.valid else 'INVALID'}",
        ]
        if self.aborted:
            lines.append(f"ABORTED: {self.abort_reason}")
        if not self.complete:
            lines.append("north-star metrics are delayed until the horizon ends")
        if self.metrics:
            lines.append(
                f"{'metric':<14} {'control':>10} {'treatment':>10} {'lift':>8} "
                f"{'95% CI':>19} {'p':>8}  cuped"
            )
            for name, m in self.metrics.items():
                star = " *" if name == self.north_star else ""
                lines.append(
                    f"{name + star:<14} {m.control_mean:>10.4g} {m.treatment_mean:>10.4g} "
                    f"{m.rel_lift:>+8.2%} [{m.ci_low:>+8.2%}, {m.ci_high:>+8.2%}] "
                    f"{m.p_value:>8.3g}  {'-' if not m.cuped else f'{m.variance_reduction:.0%}'}"
                )
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return None if v != v or v in (float("inf"), float("-inf")) else v
    return value


def _resolve_policy(policy: Policy | str, surface: Surface) -> Policy:
    if isinstance(policy, str):
        from evorec.simulator.policies import make_policy

        return make_policy(policy, surface)
    if not callable(getattr(policy, "score", None)):
        raise ConfigError(f"{policy!r} is not a policy (it needs a score(batch) method)")
    return policy


def _policy_name(policy: Policy) -> str:
    return str(getattr(policy, "name", type(policy).__name__))


class ABExperiment:
    """A day-by-day A/B experiment (see the module docstring).

    ``srm_injection`` moves that share of treatment users into the control arm — a
    simulated assignment bug, for testing that the SRM check catches it.
    """

    def __init__(
        self,
        control: Policy | str,
        treatment: Policy | str,
        surface: str | Path | Surface,
        users: int,
        days: int,
        traffic_fraction: float = 0.5,
        seed: int = 0,
        guardrails: Sequence[Guardrail] = (),
        *,
        salt: str = "ab",
        pre_days: int | None = None,
        srm_injection: float = 0.0,
    ) -> None:
        from evorec.simulator.world import World

        surf = get_surface(surface)
        users, days = validate_sizes(users, days)
        if isinstance(traffic_fraction, bool) or not 0.0 < float(traffic_fraction) < 1.0:
            raise ConfigError(f"traffic_fraction must lie in (0, 1), got {traffic_fraction!r}")
        if not 0.0 <= float(srm_injection) < 1.0:
            raise ConfigError(f"srm_injection must lie in [0, 1), got {srm_injection!r}")
        pre = surf.ab_pre_days if pre_days is None else int(pre_days)
        if pre < 0:
            raise ConfigError(f"pre_days must be >= 0, got {pre}")
        self.surface = surf
        self.control = _resolve_policy(control, surf)
        self.treatment = _resolve_policy(treatment, surf)
        self.guardrails = tuple(
            g if isinstance(g, Guardrail) else Guardrail(**g) for g in guardrails
        )
        self.config: dict[str, Any] = {
            "surface": surf.name,
            "surface_params": surf.model_dump(mode="json"),
            "control": _policy_name(self.control),
            "treatment": _policy_name(self.treatment),
            "users": users,
            "days": days,
            "traffic_fraction": float(traffic_fraction),
            "seed": int(seed),
            "salt": str(salt),
            "pre_days": pre,
            "srm_injection": float(srm_injection),
            "guardrails": [asdict(g) for g in self.guardrails],
        }
        user_ids = np.arange(users, dtype=np.int64)
        treat = assign(user_ids, str(salt), float(traffic_fraction))
        if srm_injection > 0:
            moved = assign(user_ids, f"{salt}/srm-injection", float(srm_injection))
            treat = treat & ~moved
        self.treat = treat
        self.world = World(surf, users, int(seed))
        self.day = 0
        self.pre_done = pre == 0
        self.aborted = False
        self.abort_reason: str | None = None
        self.daily: list[dict[str, Any]] = []
        zeros = np.zeros(users, dtype=np.float64)
        self.totals = {k: zeros.copy() for k in ("active_days", "time_spent", "clicks")}
        self.totals["satisfaction"] = zeros.copy()
        self.pre = {k: zeros.copy() for k in self.totals}

    # ------------------------------------------------------------------ running

    @property
    def done(self) -> bool:
        return self.aborted or self.day >= self.config["days"]

    def _read_day(self) -> dict[str, np.ndarray]:
        v = self.world.value
        assert v is not None
        return {
            "active": v["user state"]["active"].numpy().astype(np.float64),
            "time_spent": v["user response"]["day_watch_time"].numpy().astype(np.float64),
            "clicks": v["user response"]["day_clicks"].numpy().astype(np.float64),
            # Latent satisfaction lives around 0, where relative lifts mean nothing; on the
            # logistic 0-1 scale (0.5 neutral) lifts and guardrail drops are proportions.
            "satisfaction": 1.0
            / (1.0 + np.exp(-v["user response"]["satisfaction"].numpy().astype(np.float64))),
        }

    def _run_pre(self) -> None:
        s = self.surface.steps_per_day
        self.world.route(np.zeros(self.config["users"], dtype=np.int64), [self.control])
        for _ in range(self.config["pre_days"]):
            self.world.step(s)
            d = self._read_day()
            self.pre["active_days"] += d["active"]
            self.pre["time_spent"] += d["time_spent"]
            self.pre["clicks"] += d["clicks"]
            self.pre["satisfaction"] = d["satisfaction"]
        self.pre_done = True

    def _serve_day(self, arm: np.ndarray, policies: Sequence[Policy]) -> dict[str, np.ndarray]:
        """One experiment day (after the pre-period, run first if due) with ``policies[arm[u]]``
        serving user u; adds the day to the per-user totals and returns its values."""
        if not self.pre_done:
            self._run_pre()
        self.world.route(arm, policies)
        self.world.step(self.surface.steps_per_day)
        d = self._read_day()
        self.totals["active_days"] += d["active"]
        self.totals["time_spent"] += d["time_spent"]
        self.totals["clicks"] += d["clicks"]
        self.totals["satisfaction"] = d["satisfaction"]
        return d

    def run_day(self) -> dict[str, Any]:
        """Simulate one experiment day; returns its report (arm means, breaches)."""
        if self.done:
            raise SimulationError("the experiment has already ended")
        d = self._serve_day(self.treat.astype(np.int64), [self.control, self.treatment])
        report: dict[str, Any] = {"day": self.day, "control": {}, "treatment": {}, "breaches": []}
        for metric, source in _DAILY_SOURCE.items():
            report["control"][metric] = float(d[source][~self.treat].mean())
            report["treatment"][metric] = float(d[source][self.treat].mean())
        report["breaches"] = guardrail_breaches(self.guardrails, d, ~self.treat, self.treat)
        self.daily.append(report)
        self.day += 1
        if report["breaches"]:
            b = report["breaches"][0]
            self.abort(
                f"guardrail {b['metric']} breached on day {report['day']}: "
                f"{b['rel_lift']:+.1%} < -{b['max_drop']:.0%} (one-sided p = {b['p_value']:.2g})"
            )
        return report

    def abort(self, reason: str) -> None:
        """Stop the experiment now (no north-star read-out will exist)."""
        self.aborted = True
        self.abort_reason = reason

    def result(self) -> ABResult:
        """The read-out: always the SRM check; north-star metrics once the horizon ended."""
        n_t = int(self.treat.sum())
        srm = srm_check(self.config["users"] - n_t, n_t, self.config["traffic_fraction"])
        complete = self.day >= self.config["days"] and not self.aborted
        metrics: dict[str, MetricReadout] = {}
        if complete:
            use_cov = self.config["pre_days"] > 0
            t = self.treat
            for name in NORTH_STAR_METRICS:
                y, x = self.totals[name], self.pre[name]
                metrics[name] = readout(
                    name,
                    y[~t],
                    y[t],
                    x[~t] if use_cov else None,
                    x[t] if use_cov else None,
                )
        return ABResult(
            config={k: v for k, v in self.config.items() if k != "surface_params"},
            complete=complete,
            aborted=self.aborted,
            abort_reason=self.abort_reason,
            days_run=self.day,
            srm=srm,
            metrics=metrics,
            daily=list(self.daily),
        )

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        """Write the whole experiment state to ``path`` (.npz), atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"treat": self.treat}
        for k, v in self.totals.items():
            arrays[f"totals/{k}"] = v
        for k, v in self.pre.items():
            arrays[f"pre/{k}"] = v
        for var, fields in self.world.state_dict().items():
            for f, v in fields.items():
                arrays[f"world/{var}/{f}"] = v
        meta = {
            "config": self.config,
            "day": self.day,
            "pre_done": self.pre_done,
            "aborted": self.aborted,
            "abort_reason": self.abort_reason,
            "daily": self.daily,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    @classmethod
    def restore(
        cls, path: str | Path, control: Policy | str, treatment: Policy | str
    ) -> ABExperiment:
        """Rebuild a saved experiment; the policies must be the same as when it was saved."""
        try:
            with np.load(Path(path)) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, KeyError) as exc:
            raise SimulationError(f"cannot read A/B state {path}: {exc}") from exc
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        cfg = meta["config"]
        surface = Surface.from_dict(cfg["surface_params"], source=f"A/B state {path}")
        exp = cls(
            control,
            treatment,
            surface,
            cfg["users"],
            cfg["days"],
            cfg["traffic_fraction"],
            cfg["seed"],
            [Guardrail(**g) for g in cfg["guardrails"]],
            salt=cfg["salt"],
            pre_days=cfg["pre_days"],
            srm_injection=cfg["srm_injection"],
        )
        for role in ("control", "treatment"):
            if exp.config[role] != cfg[role]:
                raise SimulationError(
                    f"A/B state {path} was saved with {role} {cfg[role]!r}, "
                    f"not {exp.config[role]!r}"
                )
        if not np.array_equal(exp.treat, arrays["treat"]):
            raise SimulationError(f"A/B state {path}: the assignment does not match")
        world: dict[str, dict[str, np.ndarray]] = {}
        for key, v in arrays.items():
            kind, _, rest = key.partition("/")
            if kind == "totals":
                exp.totals[rest] = v
            elif kind == "pre":
                exp.pre[rest] = v
            elif kind == "world":
                var, _, f = rest.rpartition("/")
                world.setdefault(var, {})[f] = v
        exp.world.load_state_dict(world)
        exp.day = meta["day"]
        exp.pre_done = meta["pre_done"]
        exp.aborted = meta["aborted"]
        exp.abort_reason = meta["abort_reason"]
        exp.daily = meta["daily"]
        return exp


def run_ab(
    control: Policy | str,
    treatment: Policy | str,
    surface: str | Path | Surface,
    users: int,
    days: int,
    traffic_fraction: float = 0.5,
    seed: int = 0,
    guardrails: Sequence[Guardrail] = (),
    *,
    salt: str = "ab",
    pre_days: int | None = None,
    srm_injection: float = 0.0,
    on_day: Callable[[dict[str, Any]], bool | None] | None = None,
) -> ABResult:
    """Run a whole experiment (see :class:`ABExperiment`); ``on_day`` may return False to abort."""
    exp = ABExperiment(
        control,
        treatment,
        surface,
        users,
        days,
        traffic_fraction,
        seed,
        guardrails,
        salt=salt,
        pre_days=pre_days,
        srm_injection=srm_injection,
    )
    while not exp.done:
        report = exp.run_day()
        if on_day is not None and not exp.aborted and on_day(report) is False:
            exp.abort(f"stopped by the on_day callback after day {report['day']}")
    return exp.result()
