"""Built-in serving policies (NumPy scorers over a whole :class:`ServingBatch` at once).

* ``random``     — uniform random scores: every slate is a uniform random K-subset.
* ``popularity`` — prior views (``documents.views``), the same slate for everybody.
* ``logging``    — the documented logging policy of ``evorec simulate``: an ε-greedy
  mix of a relevance score (profile · topic embedding, normalised) plus the observable
  quality score, and, with probability ε per user and step, a uniform random slate. It
  reports the exact probability that each shown document was in its slate.
* ``clickbait``  — engagement bait: relevance plus a preference for *low* observable
  quality, which draws more clicks on the first day and drives users away after it.

Every policy is deterministic given the batch (random draws come from ``batch.seed``).
"""

from __future__ import annotations

import numpy as np

from evorec.errors import ConfigError
from evorec.simulator.policy import Policy, ServingBatch
from evorec.simulator.surfaces import Surface

__all__ = [
    "POLICY_NAMES",
    "ClickbaitPolicy",
    "LoggingPolicy",
    "PopularityPolicy",
    "RandomPolicy",
    "make_policy",
]


def _relevance(batch: ServingBatch) -> np.ndarray:
    """[U, D] cosine similarity of user profiles and document embeddings."""
    u = batch.user_features / (np.linalg.norm(batch.user_features, axis=1, keepdims=True) + 1e-6)
    d = batch.doc_features / (np.linalg.norm(batch.doc_features, axis=1, keepdims=True) + 1e-6)
    return u @ d.T


class RandomPolicy:
    """Uniform random scores (a uniform random slate per user and step)."""

    name = "random"

    def score(self, batch: ServingBatch) -> np.ndarray:
        rng = np.random.default_rng(batch.seed)
        return rng.random((batch.user_ids.shape[0], batch.doc_ids.shape[0]), dtype=np.float32)

    def propensity(self, batch: ServingBatch, slate: np.ndarray) -> np.ndarray:
        """[U, K] slate-inclusion probabilities: K / D for every shown document."""
        k, d = slate.shape[1], batch.doc_ids.shape[0]
        return np.full(slate.shape, k / d, dtype=np.float32)


class PopularityPolicy:
    """Most-viewed first (``log1p(views)``), identical for every user."""

    name = "popularity"

    def score(self, batch: ServingBatch) -> np.ndarray:
        if batch.doc_views is None:
            raise ConfigError("the popularity policy needs doc_views in the serving batch")
        pop = np.log1p(batch.doc_views.astype(np.float32))
        return np.broadcast_to(pop, (batch.user_ids.shape[0], pop.shape[0]))

    def propensity(self, batch: ServingBatch, slate: np.ndarray) -> np.ndarray:
        return np.ones(slate.shape, dtype=np.float32)


class LoggingPolicy:
    """ε-greedy: relevance + ``quality_weight`` × quality score, random slates with prob. ε.

    Propensity of a shown document: ``(1 - ε) · [in the greedy top-K] + ε · K / D``.
    """

    name = "logging"

    def __init__(self, epsilon: float = 0.1, quality_weight: float = 0.5) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"epsilon must lie in [0, 1], got {epsilon}")
        self.epsilon = float(epsilon)
        self.quality_weight = float(quality_weight)

    def _greedy(self, batch: ServingBatch) -> np.ndarray:
        return _relevance(batch) + self.quality_weight * batch.doc_quality_score[None, :]

    def _explore(self, batch: ServingBatch) -> tuple[np.ndarray, np.random.Generator]:
        rng = np.random.default_rng(batch.seed)
        return rng.random(batch.user_ids.shape[0]) < self.epsilon, rng

    def score(self, batch: ServingBatch) -> np.ndarray:
        scores = self._greedy(batch).astype(np.float32)
        explore, rng = self._explore(batch)
        n = int(explore.sum())
        if n:
            # Random scores above every greedy score: a uniform random K-subset.
            noise = rng.random((n, scores.shape[1]), dtype=np.float32)
            scores[explore] = noise + (np.abs(scores).max() + 2.0)
        return scores

    def propensity(self, batch: ServingBatch, slate: np.ndarray) -> np.ndarray:
        from evorec.simulator.world import topk

        k, d = slate.shape[1], batch.doc_ids.shape[0]
        # Users who did not explore were shown the greedy slate itself; only the exploring
        # ones need the greedy top-k to tell which shown documents it would have had.
        explore, _ = self._explore(batch)
        in_greedy = np.ones(slate.shape, dtype=bool)
        if explore.any():
            sub = ServingBatch(
                **{
                    **batch.__dict__,
                    "user_ids": batch.user_ids[explore],
                    "user_features": batch.user_features[explore],
                }
            )
            greedy = topk(self._greedy(sub).astype(np.float32), k)
            in_greedy[explore] = (slate[explore][:, :, None] == greedy[:, None, :]).any(axis=2)
        return ((1.0 - self.epsilon) * in_greedy + self.epsilon * k / d).astype(np.float32)


class ClickbaitPolicy:
    """Engagement bait: relevance minus ``bait`` × quality score (low quality first)."""

    name = "clickbait"

    def __init__(self, bait: float = 0.5) -> None:
        self.bait = float(bait)

    def score(self, batch: ServingBatch) -> np.ndarray:
        return (_relevance(batch) - self.bait * batch.doc_quality_score[None, :]).astype(np.float32)

    def propensity(self, batch: ServingBatch, slate: np.ndarray) -> np.ndarray:
        return np.ones(slate.shape, dtype=np.float32)


#: Names accepted by :func:`make_policy` (and ``evorec ab --control/--treatment``).
POLICY_NAMES = ("random", "popularity", "logging", "clickbait")


def make_policy(name: str, surface: Surface | None = None) -> Policy:
    """A built-in policy by name; the logging policy takes ε from the surface."""
    if name == "random":
        return RandomPolicy()
    if name == "popularity":
        return PopularityPolicy()
    if name == "logging":
        return LoggingPolicy(epsilon=surface.logging_epsilon if surface is not None else 0.1)
    if name == "clickbait":
        return ClickbaitPolicy()
    raise ConfigError(f"unknown policy {name!r}: use one of {', '.join(POLICY_NAMES)}")
