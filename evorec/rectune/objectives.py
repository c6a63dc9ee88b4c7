"""Objectives of a tuning task: north-star metrics with directions, guardrail floors, a budget.

A candidate configuration is judged by the relative lifts of its A/B test against the control
(``rel_lift`` of each :class:`~evorec.simulator.stats.MetricReadout`). The objectives say

* which metrics count and in which direction (``up``: higher is better, ``down``: lower is
  better) — the Pareto order (:func:`dominates`, :func:`pareto_front`);
* the guardrail floors ``M_j ≥ b_j``, each a relative-lift floor against the control
  (``{"active_days": -0.01}``: active days may fall by at most 1 %) — :func:`floor_breaches`;
* the cost budget: how many treatment arms (A/B tests) a run may spend;
* weights of a scalar score, used only to order candidates inside the Pareto set and to tell
  search back-ends (Optuna) how a trial went; a floor breach scores ``-inf`` there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evorec.errors import ConfigError

__all__ = [
    "DEFAULT_OBJECTIVES",
    "METRICS",
    "Objectives",
    "dominates",
    "floor_breaches",
    "parse_floor",
    "pareto_front",
]

#: Horizon metrics the multi-arm A/B harness reads out (what each means).
METRICS: dict[str, str] = {
    "active_days": "days a user came back during the experiment (the north star)",
    "time_spent": "seconds watched per user during the experiment",
    "satisfaction": "the user's latent satisfaction at the end of the experiment",
    "clicks": "clicks per user during the experiment",
    "diversity": "distinct topics per served slate during the experiment",
}

Direction = Literal["up", "down"]


class Objectives(BaseModel):
    """North-star metrics with directions, guardrail floors and a cost budget."""

    model_config = ConfigDict(extra="forbid")

    directions: dict[str, Direction] = Field(
        default_factory=lambda: {
            "active_days": "up",
            "time_spent": "up",
            "satisfaction": "up",
            "clicks": "up",
        },
        description="Metric -> direction (up: higher is better, down: lower is better).",
    )
    floors: dict[str, float] = Field(
        default_factory=lambda: {"active_days": -0.01, "satisfaction": -0.05},
        description="Guardrail floors: metric -> the lowest relative lift vs control allowed "
        "(in the metric's good direction; -0.01 = may get at most 1 % worse).",
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "active_days": 1.0,
            "time_spent": 0.25,
            "satisfaction": 0.1,
            "clicks": 0.1,
        },
        description="Weights of the scalar score that orders points inside the Pareto set.",
    )
    floor_test: Literal["significant", "point"] = Field(
        default="significant",
        description="When a floor counts as breached: 'significant' — the lift is below the "
        "floor and the whole 95% CI lies on the bad side of 0 (noise alone does not breach); "
        "'point' — the point estimate is below the floor.",
    )
    budget: int | None = Field(
        default=None,
        ge=1,
        description="Cost budget: treatment arms (A/B tests) a run may spend (None: rounds × "
        "proposals).",
    )

    @model_validator(mode="after")
    def _known(self) -> Objectives:
        if not self.directions:
            raise ValueError("at least one north-star metric is needed")
        for name in (*self.directions, *self.floors, *self.weights):
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r} (known: {', '.join(METRICS)})")
        for name in self.floors:
            if name not in self.directions:
                raise ValueError(f"floor on {name!r}, which is not one of the metrics")
        for name, value in self.floors.items():
            if not math.isfinite(value) or value > 0.5 or value < -1.0:
                raise ValueError(f"floor of {name!r} must lie in [-1, 0.5], got {value!r}")
        return self

    @classmethod
    def coerce(cls, value: Objectives | Mapping[str, Any] | None) -> Objectives:
        """Objectives from an instance, a dict (validated) or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        try:
            return cls.model_validate(dict(value))
        except Exception as exc:  # noqa: BLE001 - pydantic's message names the field
            raise ConfigError(f"invalid objectives: {exc}") from None

    def signed(self, metric: str, lift: float) -> float:
        """``lift`` turned so that larger is better."""
        return lift if self.directions.get(metric, "up") == "up" else -lift

    def score(
        self,
        lifts: Mapping[str, float],
        intervals: Mapping[str, tuple[float, float]] | None = None,
    ) -> float:
        """Weighted sum of signed lifts; ``-inf`` when a floor is breached or a metric missing."""
        if floor_breaches(lifts, self, intervals):
            return -math.inf
        total = 0.0
        for metric in self.directions:
            if metric not in lifts or lifts[metric] is None:
                return -math.inf
            total += self.weights.get(metric, 0.0) * self.signed(metric, float(lifts[metric]))
        return total

    def describe(self) -> str:
        """Markdown lines for prompts and exports."""
        lines = []
        for metric, direction in self.directions.items():
            arrow = "↑ (higher is better)" if direction == "up" else "↓ (lower is better)"
            floor = self.floors.get(metric)
            floor_text = f"; floor: relative lift ≥ {floor:+.1%}" if floor is not None else ""
            weight = self.weights.get(metric, 0.0)
            lines.append(f"- `{metric}` {arrow}{floor_text}; weight {weight:g} — {METRICS[metric]}")
        if self.budget is not None:
            lines.append(f"- cost budget: {self.budget} A/B arms")
        return "\n".join(lines)


DEFAULT_OBJECTIVES = Objectives()


def parse_floor(text: str) -> tuple[str, float]:
    """``"active_days=-0.01"`` or ``"active_days=-1%"`` → ``("active_days", -0.01)``."""
    name, sep, value = str(text).partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ConfigError(f"a floor is METRIC=VALUE (e.g. active_days=-1%), not {text!r}")
    try:
        number = float(value[:-1]) / 100.0 if value.endswith("%") else float(value)
    except ValueError:
        raise ConfigError(f"the floor value in {text!r} is not a number") from None
    return name, number


def floor_breaches(
    lifts: Mapping[str, float | None],
    objectives: Objectives,
    intervals: Mapping[str, tuple[float, float]] | None = None,
) -> list[str]:
    """Metrics whose signed lift falls below their floor (a missing lift counts as a breach).

    With ``intervals`` (metric → 95% CI of the relative lift) and the objectives'
    ``floor_test`` ``significant``, a lift below its floor breaches only when the interval
    lies wholly on the bad side of 0 — the treatment is significantly worse than control.
    """
    out = []
    for metric, floor in objectives.floors.items():
        lift = lifts.get(metric)
        if lift is None or (isinstance(lift, float) and math.isnan(lift)):
            out.append(metric)
            continue
        if objectives.signed(metric, float(lift)) >= floor:
            continue
        ci = (intervals or {}).get(metric)
        if objectives.floor_test == "significant" and ci is not None:
            low, high = float(ci[0]), float(ci[1])
            worst_good = high if objectives.directions.get(metric, "up") == "up" else -low
            if worst_good >= 0:
                continue  # not significantly worse than the control: noise
        out.append(metric)
    return out


def dominates(
    a: Mapping[str, float], b: Mapping[str, float], directions: Mapping[str, str]
) -> bool:
    """``a`` Pareto-dominates ``b``: at least as good on every metric, better on one."""
    better = False
    for metric, direction in directions.items():
        x, y = float(a[metric]), float(b[metric])
        if direction == "down":
            x, y = -x, -y
        if x < y:
            return False
        if x > y:
            better = True
    return better


def pareto_front(points: Sequence[Mapping[str, float]], directions: Mapping[str, str]) -> list[int]:
    """Indices of the points no other point dominates (ties kept), in input order."""
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p, directions) for j, q in enumerate(points) if j != i)
    ]
