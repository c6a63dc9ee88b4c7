"""Φ: strict validation, bounds, descriptions, the shipped baseline."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from evorec.errors import ConfigError
from evorec.ranker.schema import (
    PRODUCTION_BASELINE,
    Phi,
    baseline_phi,
    describe_fields,
    json_schema,
    load_phi,
    phi_hash,
)


def _with(path: str, value):
    data = json.loads(json.dumps(PRODUCTION_BASELINE))
    node = data
    *parents, last = path.strip("/").split("/")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_baseline_is_the_papers_starting_point():
    phi = baseline_phi()
    assert phi.optimizer.algorithm == "adagrad"
    assert phi.architecture.activation == "relu"
    assert phi.architecture.gated_path is None and phi.architecture.cross_layers is None
    assert [t.signal for t in phi.reward.terms] == ["click"]


@pytest.mark.parametrize(
    "path,value,fragment",
    [
        ("/optimizer/learning_rate", "0.1", "valid number"),  # string never passes for a number
        ("/optimizer/learning_rate", math.nan, "finite"),
        ("/optimizer/learning_rate", math.inf, "finite"),
        ("/optimizer/learning_rate", 0.0, "greater than 0"),
        ("/optimizer/learning_rate", 100.0, "less than or equal"),
        ("/optimizer/algorithm", "lion", "Input should be"),
        ("/optimizer/warmup_steps", 1.5, "valid integer"),
        ("/training/epochs", True, "valid integer"),  # a bool is not a number
        ("/training/batch_size", 8, "greater than or equal"),
        ("/architecture/tower_widths", [], "at least 1"),
        ("/architecture/tower_widths", [64, "32"], "valid integer"),
        ("/architecture/dropout", 0.95, "less than or equal"),
        ("/architecture/activation", "sigmoid", "Input should be"),
        ("/optimizer/bogus", 1, "Extra inputs"),
        ("/constraints/max_params", -5, "greater than or equal"),
    ],
)
def test_invalid_values_are_refused_with_the_path(path, value, fragment):
    with pytest.raises(ConfigError) as info:
        load_phi(_with(path, value))
    assert fragment in str(info.value)
    field = path.strip("/").split("/")
    assert any(e["path"].startswith("/" + "/".join(field[:2])) for e in info.value.errors)


def test_cross_field_rules():
    with pytest.raises(ConfigError, match="nesterov"):
        load_phi(_with("/optimizer/nesterov", True))  # adagrad + nesterov
    term = {"signal": "watch_time", "weight": 1.0, "transform": "clip"}
    with pytest.raises(ConfigError, match="needs a numeric param"):
        load_phi(_with("/reward/terms", [term]))
    term = {"signal": "click", "weight": 1.0, "param": 3.0}
    with pytest.raises(ConfigError, match="takes no param"):
        load_phi(_with("/reward/terms", [term]))
    heads = [{"signal": "like", "weight": 1.0}, {"signal": "like", "weight": 0.5}]
    with pytest.raises(ConfigError, match="twice"):
        load_phi(_with("/architecture/aux_heads", heads))


def test_json_text_and_nan_literals():
    text = json.dumps(PRODUCTION_BASELINE)
    assert load_phi(text) == baseline_phi()
    with pytest.raises(ConfigError):
        load_phi(text.replace("0.05", "NaN"))


def test_every_field_has_a_description():
    rows = describe_fields()
    assert len(rows) > 40
    missing = [path for path, _, desc in rows if not desc.strip()]
    assert missing == []
    schema = json_schema()
    assert schema["additionalProperties"] is False


def test_hash_is_stable_and_content_based():
    a, b = baseline_phi(), load_phi(json.loads(json.dumps(PRODUCTION_BASELINE)))
    assert phi_hash(a) == phi_hash(b) == a.content_hash()
    c = load_phi(_with("/optimizer/learning_rate", 0.06))
    assert phi_hash(c) != phi_hash(a)


def test_phi_is_immutable():
    phi = baseline_phi()
    with pytest.raises(ValidationError):
        phi.optimizer = None  # type: ignore[misc]
    assert isinstance(phi, Phi)
