"""The production registry: atomic, idempotent launches, full history."""

from __future__ import annotations

import json

import pytest

from evorec.delta import apply_delta
from evorec.errors import ConfigError
from evorec.production import ProductionRegistry
from evorec.ranker.schema import baseline_phi


def test_empty_registry_serves_the_baseline(tmp_path):
    reg = ProductionRegistry(tmp_path / "production.json")
    assert reg.current().version == 0
    assert reg.current_phi() == baseline_phi()
    assert not reg.path.exists()  # reading writes nothing


def test_launch_is_versioned_and_idempotent(tmp_path):
    reg = ProductionRegistry(tmp_path / "production.json")
    reg.initialise()
    reg.set_artifact(0, tmp_path / "a0")
    new = apply_delta(
        baseline_phi(), [{"op": "replace", "path": "/optimizer/algorithm", "value": "rmsprop"}]
    )
    first = reg.launch(new, tmp_path / "a1", "exp-1", note="+1.2% active_days")
    again = reg.launch(new, tmp_path / "a1", "exp-1")
    assert first == again and first.version == 1
    assert [r.version for r in reg.history()] == [0, 1]
    assert reg.current_phi() == new
    assert reg.history()[0].artifact == str(tmp_path / "a0")
    # A fresh handle reads the same durable state.
    assert ProductionRegistry(reg.path).current().experiment_id == "exp-1"


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "production.json"
    path.write_text("{half")
    with pytest.raises(ConfigError, match="corrupt"):
        ProductionRegistry(path).current()
    path.write_text(json.dumps({"nope": 1}))
    with pytest.raises(ConfigError, match="history"):
        ProductionRegistry(path).current()
