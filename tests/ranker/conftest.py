"""Shared fixtures for the ranker tests: a small synthetic logged-data database."""

from __future__ import annotations

from typing import Any

import pytest

from evorec.delta import apply_delta
from evorec.ranker.data import LoggedData, load_logged_data, write_synthetic_logs
from evorec.ranker.schema import Phi, baseline_phi


@pytest.fixture(scope="session")
def logs_path(tmp_path_factory: pytest.TempPathFactory):
    """5,000 impressions of 200 users over 100 documents and 6 topics (contract format)."""
    return write_synthetic_logs(
        tmp_path_factory.mktemp("logs") / "logs.duckdb", users=200, docs=100, impressions=5_000
    )


@pytest.fixture()
def data(logs_path) -> LoggedData:
    """Freshly loaded, so a test may poison its arrays without affecting others."""
    return load_logged_data(logs_path)


def variant(*ops: tuple[str, str, Any], base: Phi | None = None) -> Phi:
    """Φ = base (the baseline sized for small data) patched with (op, path, value) triples."""
    return apply_delta(
        base or small_phi(), [{"op": op, "path": path, "value": value} for op, path, value in ops]
    )


def small_phi() -> Phi:
    """The production baseline with a batch size and epochs that suit 4k training rows."""
    return apply_delta(
        baseline_phi(),
        [
            {"op": "replace", "path": "/training/batch_size", "value": 256},
            {"op": "replace", "path": "/training/epochs", "value": 3},
        ],
    )


@pytest.fixture()
def phi() -> Phi:
    return small_phi()


@pytest.fixture()
def make_phi():
    """``make_phi(("replace", "/optimizer/algorithm", "adam"), ...)`` -> patched small Φ."""
    return variant
