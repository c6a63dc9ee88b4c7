"""Shared small worlds for the simulator tests (built once per session: TF tracing is slow)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_logs(tmp_path_factory):
    """A small logged-data database on home_feed (300 users, 2 days, seed 3)."""
    from evorec.simulator.logs import simulate

    out = tmp_path_factory.mktemp("logs") / "logs.duckdb"
    summary = simulate("home_feed", 300, 2, 3, out)
    return out, summary


@pytest.fixture(scope="session")
def aa_experiment():
    """A finished A/A experiment (logging vs logging) on 3,000 users for 4 days."""
    from evorec.simulator.ab import ABExperiment

    exp = ABExperiment("logging", "logging", "home_feed", 3000, 4, 0.5, seed=11, pre_days=1)
    while not exp.done:
        exp.run_day()
    return exp
