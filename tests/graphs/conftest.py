"""Shared small worlds for the graph tests: logged data and a trained production baseline."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def online_world(tmp_path_factory):
    """Logged data (1,500 users x 3 days) and a workdir whose production model is trained."""
    from evorec.graphs.online import run_online
    from evorec.graphs.online_state import OnlineContext
    from evorec.simulator import simulate

    root = tmp_path_factory.mktemp("online-world")
    simulate("home_feed", 1500, 3, 0, root / "logs.duckdb")
    ctx = OnlineContext(
        journal_path=str(root / "template-journal.duckdb"),
        data_path=str(root / "logs.duckdb"),
        workdir=str(root / "template"),
    )
    run_online(ctx, thread_id="setup")  # empty queue: trains production and stops
    (root / "template" / "checkpoints.sqlite").unlink()
    return root


@pytest.fixture()
def workdir(online_world, tmp_path):
    """A fresh copy of the template workdir (production trained, nothing else)."""
    dest = tmp_path / "run"
    shutil.copytree(online_world / "template", dest)
    return dest


@pytest.fixture()
def context(online_world, workdir, tmp_path):
    from evorec.graphs.online_state import OnlineContext

    def make(**overrides):
        values = dict(
            journal_path=str(tmp_path / "journal.duckdb"),
            data_path=str(online_world / "logs.duckdb"),
            workdir=str(workdir),
            users=3000,
            days=4,
            seed=1,
        )
        values.update(overrides)
        return OnlineContext(**values)

    return make
