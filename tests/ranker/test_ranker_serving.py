"""RankerPolicy: one batched forward per step, the right shape, deterministic, consistent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evorec.errors import ConstraintViolation
from evorec.ranker.model import dense_features
from evorec.ranker.serving import RankerPolicy, check_constraints
from evorec.ranker.training import train
from evorec.simulator.policy import Policy, ServingBatch


def _batch(data, user_ids, doc_ids, views=True):
    user_ids, doc_ids = np.asarray(user_ids, np.int64), np.asarray(doc_ids, np.int64)
    return ServingBatch(
        day=1,
        step=2,
        user_ids=user_ids,
        user_features=data.user_features[user_ids % data.spec.num_users],
        doc_ids=doc_ids,
        doc_topic=data.doc_topic[doc_ids],
        doc_length=data.doc_length[doc_ids],
        doc_quality_score=data.doc_quality_score[doc_ids],
        doc_features=data.doc_features[doc_ids],
        doc_views=data.doc_views[doc_ids] if views else None,
    )


@pytest.fixture()
def policy(data, phi):
    return RankerPolicy(train(phi, data, max_steps=20), name="ranker-test")


def test_shape_dtype_and_protocol(policy, data):
    users, docs = [0, 3, 7, 150, 999], list(range(0, 60, 3))
    scores = policy.score(_batch(data, users, docs))
    assert isinstance(policy, Policy) and policy.name == "ranker-test"
    assert scores.shape == (5, 20) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    assert policy.score(_batch(data, [], docs)).shape == (0, 20)
    assert policy.score(_batch(data, users, docs, views=False)).shape == (5, 20)


def test_deterministic_and_independent_of_batch_composition(policy, data):
    docs = np.arange(10)
    full = policy.score(_batch(data, [1, 2, 3, 4], docs))
    assert np.array_equal(full, policy.score(_batch(data, [1, 2, 3, 4], docs)))
    alone = policy.score(_batch(data, [3], docs))
    assert np.allclose(full[2], alone[0], atol=1e-6)


def test_grid_matches_pairwise_forward(policy, data):
    users, docs = np.array([5, 9]), np.array([4, 8, 15])
    grid = policy.score(_batch(data, users, docs))
    m = policy.model
    for i, u in enumerate(users):
        for j, d in enumerate(docs):
            dense = dense_features(
                torch.from_numpy(data.user_features[u])[None],
                torch.from_numpy(data.doc_features[d])[None],
                torch.tensor([data.doc_length[d]]),
                torch.tensor([data.doc_quality_score[d]]),
                torch.tensor([float(data.doc_views[d])]),
            )
            ids = torch.tensor([[u, d, data.doc_topic[d]]])
            with torch.no_grad():
                assert grid[i, j] == pytest.approx(float(m(ids, dense)[0, 0]), abs=1e-5)


def test_trained_ranker_ranks_heldout_clicks_first(data, phi):
    """Served scores rank held-out clicks above non-clicks far better than chance."""
    policy = RankerPolicy(train(phi, data))
    held = data.heldout_index[:400]
    scores = np.array(
        [
            policy.score(_batch(data, [u], [d]))[0, 0]
            for u, d in zip(data.user_id[held], data.doc_id[held], strict=True)
        ]
    )
    click = data.signals["click"][held] > 0
    pos, neg = scores[click], scores[~click]
    assert (pos[:, None] > neg[None, :]).mean() > 0.6


def test_check_constraints(data, make_phi):
    ok = check_constraints(make_phi(), data.spec)
    assert ok["params"] > 0 and ok["latency_ms_per_1k"] > 0
    with pytest.raises(ConstraintViolation) as info:
        check_constraints(make_phi(("replace", "/constraints/max_params", 5000)), data.spec)
    assert info.value.name == "max_params" and info.value.limit == 5000
    slow = make_phi(
        ("replace", "/architecture/tower_widths", [2048, 2048, 2048]),
        ("replace", "/constraints/max_latency_ms_per_1k", 0.001),
        ("replace", "/constraints/max_params", 100_000_000),
    )
    with pytest.raises(ConstraintViolation) as info:
        check_constraints(slow, data.spec)
    assert info.value.name == "max_latency_ms_per_1k" and info.value.value > 0.001


def test_oversized_model_is_refused_without_allocating(data, make_phi):
    huge = make_phi(
        ("replace", "/architecture/tower_widths", [4096] * 8),
        ("replace", "/constraints/max_params", 1_000_000),
    )
    with pytest.raises(ConstraintViolation, match="max_params"):
        check_constraints(huge, data.spec)
