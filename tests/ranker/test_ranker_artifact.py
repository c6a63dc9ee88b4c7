"""Artifacts: round trip, hash verification, and never a half-written directory."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import evorec.ranker.artifact as artifact_mod
from evorec.errors import ArtifactError
from evorec.ranker.artifact import export_artifact, load_artifact
from evorec.ranker.serving import score_batch
from evorec.ranker.training import train
from evorec.simulator.policy import ServingBatch


@pytest.fixture()
def trained(data, make_phi):
    phi = make_phi(
        ("replace", "/architecture/normalization", "batchnorm"),
        ("add", "/architecture/aux_heads/-", {"signal": "like", "weight": 0.5}),
    )
    return train(phi, data, max_steps=15)


def _batch(data, users=4, docs=9):
    return ServingBatch(
        day=0,
        step=0,
        user_ids=np.arange(users),
        user_features=data.user_features[:users],
        doc_ids=np.arange(docs),
        doc_topic=data.doc_topic[:docs],
        doc_length=data.doc_length[:docs],
        doc_quality_score=data.doc_quality_score[:docs],
        doc_features=data.doc_features[:docs],
        doc_views=data.doc_views[:docs],
    )


def test_round_trip(trained, data, tmp_path):
    path = export_artifact(trained, trained.phi, tmp_path)
    assert sorted(p.name for p in path.iterdir()) == [
        "manifest.json",
        "metrics.json",
        "phi.json",
        "weights.pt",
    ]
    art = load_artifact(path)
    assert art.phi == trained.phi
    assert art.metrics["steps"] == 15
    assert art.manifest["content_hash"] == art.hash
    assert not art.model.training
    # weights_only loading works on the raw file too
    state = torch.load(path / "weights.pt", weights_only=True)
    assert "dense_mean" in state
    b = _batch(data)
    assert np.array_equal(score_batch(art.model, b), score_batch(trained.model, b))
    # exporting the same content again is idempotent
    assert export_artifact(trained, trained.phi, tmp_path) == path


def test_tampered_weights_fail_the_hash(trained, tmp_path):
    path = export_artifact(trained, trained.phi, tmp_path, version="v1")
    state = torch.load(path / "weights.pt", weights_only=True)
    state["heads.weight"] += 1.0
    torch.save(state, path / "weights.pt")
    with pytest.raises(ArtifactError, match="content-hash"):
        load_artifact(path)


def test_tampered_phi_fails_the_hash(trained, tmp_path):
    path = export_artifact(trained, trained.phi, tmp_path, version="v1")
    phi = json.loads((path / "phi.json").read_text())
    phi["architecture"]["dropout"] = 0.5
    (path / "phi.json").write_text(json.dumps(phi))
    with pytest.raises(ArtifactError, match="content-hash"):
        load_artifact(path)


def test_missing_file_and_missing_dir(trained, tmp_path):
    path = export_artifact(trained, trained.phi, tmp_path, version="v1")
    (path / "metrics.json").unlink()
    with pytest.raises(ArtifactError, match="metrics.json"):
        load_artifact(path)
    with pytest.raises(ArtifactError, match="not found"):
        load_artifact(tmp_path / "nothing")


def test_crash_before_rename_leaves_nothing(trained, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(artifact_mod.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        export_artifact(trained, trained.phi, tmp_path, version="v1")
    assert list(tmp_path.iterdir()) == []


def test_crash_while_writing_leaves_nothing(trained, tmp_path, monkeypatch):
    calls = []
    real = artifact_mod._write

    def flaky(path, data):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(artifact_mod, "_write", flaky)
    with pytest.raises(OSError, match="disk full"):
        export_artifact(trained, trained.phi, tmp_path, version="v1")
    assert not (tmp_path / "v1").exists()
    assert [p for p in tmp_path.iterdir()] == []


def test_a_different_artifact_under_the_same_name_is_refused(trained, data, phi, tmp_path):
    export_artifact(trained, trained.phi, tmp_path, version="v1")
    other = train(phi, data, max_steps=2)
    with pytest.raises(ArtifactError, match="different artifact"):
        export_artifact(other, other.phi, tmp_path, version="v1")
    assert os.listdir(tmp_path) == ["v1"]
