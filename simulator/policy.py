"""Serving policies: score every user's candidates for one step in one batched call.

A policy is any object with a ``name`` and a ``score(batch) -> np.ndarray`` method; the
simulator shows each user the top-``slate_size`` documents by score. There are no per-user
Python loops: ``score`` gets arrays for all users of an arm at once. The trained PyTorch
ranker serves through the same protocol (``evorec.ranker``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Policy", "ServingBatch"]


@dataclass(frozen=True)
class ServingBatch:
    """One step's scoring request. U = users of the arm, D = candidate documents.

    The candidate set is shared by all users of the step (RecSim NG's interest-evolution
    corpus); features are exactly what the logged data exposes (``simulator.schema``).
    """

    day: int
    """Simulated day."""
    step: int
    """Step within the day."""
    user_ids: np.ndarray
    """[U] int64 user ids."""
    user_features: np.ndarray
    """[U, T] float32 observable user profiles (``users.features``)."""
    doc_ids: np.ndarray
    """[D] int64 candidate document ids."""
    doc_topic: np.ndarray
    """[D] int64 main topics."""
    doc_length: np.ndarray
    """[D] float32 lengths in seconds."""
    doc_quality_score: np.ndarray
    """[D] float32 observable quality estimates."""
    doc_features: np.ndarray
    """[D, T] float32 document topic embeddings."""
    seed: int = 0
    """A per-step seed for policies that randomise (deterministic runs)."""
    doc_views: np.ndarray | None = None
    """[D] int64 prior view counts (``documents.views``); None when not provided."""


@runtime_checkable
class Policy(Protocol):
    """Anything that scores a :class:`ServingBatch` into a [U, D] float array."""

    name: str

    def score(self, batch: ServingBatch) -> np.ndarray:
        """Return [U, D] float scores; higher is shown first."""
        ...
