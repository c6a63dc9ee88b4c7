"""Objectives: Pareto dominance with directions, guardrail floors, parsing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evorec.errors import ConfigError
from evorec.rectune.objectives import (
    Objectives,
    dominates,
    floor_breaches,
    pareto_front,
    parse_floor,
)


def test_dominance_respects_directions():
    up = {"a": "up", "b": "up"}
    assert dominates({"a": 1, "b": 1}, {"a": 0, "b": 1}, up)
    assert not dominates({"a": 1, "b": 0}, {"a": 0, "b": 1}, up)
    assert not dominates({"a": 1, "b": 1}, {"a": 1, "b": 1}, up)
    mixed = {"a": "up", "b": "down"}
    assert dominates({"a": 1, "b": 0}, {"a": 1, "b": 1}, mixed)
    assert not dominates({"a": 1, "b": 1}, {"a": 1, "b": 0}, mixed)


@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=1, max_size=12))
def test_pareto_front_is_exactly_the_non_dominated(points):
    pts = [{"a": a, "b": b} for a, b in points]
    dirs = {"a": "up", "b": "down"}
    front = set(pareto_front(pts, dirs))
    assert front  # a finite set always has a non-dominated point
    for i, p in enumerate(pts):
        dominated = any(dominates(q, p, dirs) for q in pts)
        assert (i in front) == (not dominated)


def test_floors_point_and_significant():
    obj = Objectives(floors={"active_days": -0.01}, floor_test="point")
    assert floor_breaches({"active_days": -0.02}, obj) == ["active_days"]
    assert floor_breaches({"active_days": -0.005}, obj) == []
    sig = Objectives(floors={"active_days": -0.01})
    # Below the floor but the CI reaches above 0: noise, not a breach.
    assert floor_breaches({"active_days": -0.02}, sig, {"active_days": (-0.05, 0.01)}) == []
    assert floor_breaches({"active_days": -0.02}, sig, {"active_days": (-0.03, -0.011)}) == [
        "active_days"
    ]
    assert floor_breaches({}, sig) == ["active_days"]  # no read-out counts as a breach
    assert sig.score({"active_days": -0.02}, {"active_days": (-0.03, -0.011)}) == -math.inf


def test_down_metric_floor_uses_the_signed_lift():
    obj = Objectives(
        directions={"clicks": "down"},
        floors={"clicks": -0.05},
        weights={"clicks": 1.0},
        floor_test="point",
    )
    assert floor_breaches({"clicks": 0.10}, obj) == ["clicks"]  # 10 % more is 10 % worse
    assert floor_breaches({"clicks": -0.10}, obj) == []
    assert obj.score({"clicks": -0.10}) == pytest.approx(0.10)


def test_parse_floor_and_bad_objectives():
    assert parse_floor("active_days=-1%") == ("active_days", pytest.approx(-0.01))
    assert parse_floor("satisfaction=-0.05") == ("satisfaction", -0.05)
    for bad in ("active_days", "=1", "active_days=abc"):
        with pytest.raises(ConfigError):
            parse_floor(bad)
    with pytest.raises(ConfigError):
        Objectives.coerce({"directions": {"nope": "up"}})
    with pytest.raises(ConfigError):
        Objectives.coerce({"floors": {"active_days": 3.0}})
