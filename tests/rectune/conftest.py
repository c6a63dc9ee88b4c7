"""Shared pieces of the AgenticRecTune tests: a seeded skill and a fast, scripted A/B harness."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from evorec.rectune.space import read_value
from evorec.simulator.stats import MetricReadout


def _readout(metric: str, lift: float, half_width: float = 0.01) -> MetricReadout:
    return MetricReadout(
        metric=metric,
        control_mean=1.0,
        treatment_mean=1.0 + lift,
        abs_diff=lift,
        rel_lift=lift,
        ci_low=lift - half_width,
        ci_high=lift + half_width,
        p_value=0.01 if abs(lift) > half_width else 0.5,
        n_control=100,
        n_treatment=100,
        cuped=False,
        variance_reduction=0.0,
    )


def scripted_lifts(config: dict[str, Any]) -> dict[str, float]:
    """A made-up world on the ranking stage: quality helps, a negative quality weight
    wrecks satisfaction, a large click weight buys clicks with active days."""
    q = float(read_value(config, "/ranking/weights/quality/weight"))
    c = float(read_value(config, "/ranking/weights/p_click/weight"))
    sat = 0.1 * (q - 0.2) if q >= 0 else -0.2 + 0.1 * q
    return {
        "active_days": 0.02 * (q - 0.2) - 0.03 * max(0.0, c - 1.0),
        "time_spent": 0.01 * (c - 1.0),
        "satisfaction": sat,
        "clicks": 0.05 * (c - 1.0),
        "diversity": 0.0,
    }


@pytest.fixture
def fake_ab(monkeypatch):
    """Replace ``run_multi_ab`` with :func:`scripted_lifts` (no simulation); records calls."""
    calls: list[dict[str, Any]] = []

    def run_multi_ab(control, treatments, surface, users, days, **kw):
        calls.append({"control": control, "treatments": dict(treatments), **kw})
        readouts = {
            name: {m: _readout(m, v) for m, v in scripted_lifts(p.config.to_json()).items()}
            for name, p in treatments.items()
        }
        return SimpleNamespace(
            readouts=readouts,
            dropped={},
            adjusted_p={},
            srm={name: SimpleNamespace(valid=True) for name in treatments},
            valid=True,
            days_run=days,
        )

    monkeypatch.setattr("evorec.simulator.multi_ab.run_multi_ab", run_multi_ab)
    return calls


@pytest.fixture
def ranking_skill():
    from evorec.rectune.skillhub import seed_skill

    return seed_skill("home_feed", "ranking")
