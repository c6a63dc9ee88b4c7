"""Serving a trained ranker in the simulator, and the constraint check G(Φ) ≤ C.

:class:`RankerPolicy` implements the simulator's ``Policy`` protocol: ``score(batch)``
builds the [U, D] grid of (user, candidate) pairs from a
:class:`~evorec.simulator.policy.ServingBatch` and scores it in one batched forward pass
(no per-user loop), under ``torch.no_grad``, on the CPU unless told otherwise. The score
is the reward head's raw output (a logit for ``bce``, the regressed label for ``mse``).
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from evorec.errors import ConstraintViolation
from evorec.ranker.data import DataSpec
from evorec.ranker.model import Ranker, build_model, count_params, cpu_threads, dense_features
from evorec.ranker.schema import Phi

if TYPE_CHECKING:
    from evorec.ranker.artifact import Artifact
    from evorec.ranker.training import TrainResult
    from evorec.simulator.policy import ServingBatch

__all__ = ["RankerPolicy", "check_constraints", "measure_latency_ms_per_1k", "score_batch"]


def score_batch(model: Ranker, batch: ServingBatch, *, threads: int | None = 1) -> np.ndarray:
    """[U, D] float32 reward-head scores of every user × candidate pair, one forward.

    On the CPU it runs with ``threads`` torch threads (1 by default, see ``cpu_threads``).
    """
    dev = next(model.parameters()).device
    with cpu_threads(dev, threads), torch.no_grad():
        return _score(model, batch, dev)


def _score(model: Ranker, batch: ServingBatch, dev: torch.device) -> np.ndarray:
    u, d = batch.user_ids.shape[0], batch.doc_ids.shape[0]
    if u == 0 or d == 0:
        return np.zeros((u, d), np.float32)

    def t(x: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=dev)

    views = batch.doc_views if batch.doc_views is not None else np.zeros(d, np.int64)
    dense = dense_features(
        t(batch.user_features, torch.float32)[:, None, :],
        t(batch.doc_features, torch.float32)[None, :, :],
        t(batch.doc_length, torch.float32)[None, :],
        t(batch.doc_quality_score, torch.float32)[None, :],
        t(views, torch.float32)[None, :],
    )  # [U, D, F]
    ids = torch.stack(
        [
            t(batch.user_ids, torch.int64)[:, None].expand(u, d),
            t(batch.doc_ids, torch.int64)[None, :].expand(u, d),
            t(batch.doc_topic, torch.int64)[None, :].expand(u, d),
        ],
        dim=-1,
    )  # [U, D, 3]
    was_training = model.training
    model.eval()
    out = model(ids.reshape(u * d, 3), dense.reshape(u * d, -1))[:, 0]
    model.train(was_training)
    return out.reshape(u, d).float().cpu().numpy()


class RankerPolicy:
    """A trained ranker as a simulator policy (``name``, ``score(batch) -> [U, D]``)."""

    def __init__(
        self,
        artifact_or_model: Artifact | TrainResult | Ranker | str | Path,
        *,
        name: str = "ranker",
        device: str | torch.device = "cpu",
    ) -> None:
        from evorec.ranker.artifact import Artifact, load_artifact

        source: Any = artifact_or_model
        if isinstance(source, str | Path):
            source = load_artifact(source)
        model = source.model if isinstance(source, Artifact) else getattr(source, "model", source)
        if not isinstance(model, Ranker):
            raise TypeError(
                f"RankerPolicy needs an Artifact, TrainResult or Ranker, got {source!r}"
            )
        dev = torch.device(device)
        if next(model.parameters()).device != dev:
            model = copy.deepcopy(model).to(dev)
        self.model = model.eval()
        self.name = name

    def score(self, batch: ServingBatch) -> np.ndarray:
        """[U, D] float32 scores for all users of the batch in one forward pass."""
        return score_batch(self.model, batch)


def _latency_batch(spec: DataSpec, users: int = 10, docs: int = 100) -> ServingBatch:
    from evorec.simulator.policy import ServingBatch

    rng = np.random.default_rng(0)
    return ServingBatch(
        day=0,
        step=0,
        user_ids=rng.integers(0, spec.num_users, users),
        user_features=rng.standard_normal((users, spec.user_feature_dim)).astype(np.float32),
        doc_ids=rng.integers(0, spec.num_docs, docs),
        doc_topic=rng.integers(0, spec.num_topics, docs),
        doc_length=rng.uniform(30, 600, docs).astype(np.float32),
        doc_quality_score=rng.standard_normal(docs).astype(np.float32),
        doc_features=rng.standard_normal((docs, spec.doc_feature_dim)).astype(np.float32),
        doc_views=rng.integers(0, 10_000, docs),
    )


def measure_latency_ms_per_1k(model: Ranker, spec: DataSpec, repeats: int = 7) -> float:
    """Median wall time (ms) to score 1,000 candidates (10 users × 100 docs), batched."""
    batch = _latency_batch(spec)
    for _ in range(2):
        score_batch(model, batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        score_batch(model, batch)
        times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


def check_constraints(phi: Phi, spec: DataSpec, *, measure_latency: bool = True) -> dict[str, Any]:
    """``{"params", "latency_ms_per_1k"}`` of Φ's (untrained) model; raises
    ``ConstraintViolation`` when either exceeds Φ.constraints.

    Parameters are counted on the ``meta`` device (nothing allocated), so an oversized Φ
    is refused before any memory or time is spent; latency is measured on the CPU.
    """
    with torch.device("meta"):
        params = count_params(build_model(phi, spec))
    limit = phi.constraints.max_params
    if params > limit:
        raise ConstraintViolation(
            f"the model has {params:,} parameters, over the limit max_params={limit:,}",
            name="max_params",
            value=params,
            limit=limit,
        )
    result: dict[str, Any] = {"params": params, "latency_ms_per_1k": None}
    if measure_latency:
        torch.manual_seed(0)
        latency = measure_latency_ms_per_1k(build_model(phi, spec).eval(), spec)
        result["latency_ms_per_1k"] = round(latency, 4)
        cap = phi.constraints.max_latency_ms_per_1k
        if latency > cap:
            raise ConstraintViolation(
                f"scoring takes {latency:.3f} ms per 1,000 candidates, over the limit "
                f"max_latency_ms_per_1k={cap}",
                name="max_latency_ms_per_1k",
                value=latency,
                limit=cap,
            )
    return result
