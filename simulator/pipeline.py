"""A multi-stage serving pipeline whose stages fuse signals with a typed, delta-only config.

Real recommenders serve through stages — candidate retrieval → pre-ranking → ranking →
re-ranking — and each stage combines its models' heads into one score with a
system-level *fusion configuration*. :class:`PipelinePolicy` is that pipeline as a
simulator policy (so the A/B harness judges it); :class:`FusionConfig` is its
configuration, typed and validated like Φ and changed only through RFC 6902 deltas
(:func:`apply_fusion_delta`).

**Signals** (:data:`FUSION_SIGNALS`), computed per (user, candidate) from a
:class:`~evorec.simulator.policy.ServingBatch` and, optionally, a trained ranker:

* ``relevance`` — cosine of the user's profile and the document's topic embedding (what
  the logging policy uses);
* ``p_click`` — the trained ranker's reward-head score (sigmoid of its logit for a
  ``bce`` ranker) when a ranker is given, else a relevance-based click estimate
  ``sigmoid(4 · relevance - 1)``;
* ``p_watch`` — expected watch seconds per impression: ``p_click × predicted watch``,
  where the predicted watch comes from the ranker's ``watch_time`` aux head (sigmoid),
  else ``length × sigmoid(completion head)`` when it has a ``completion`` head, else
  ``length × sigmoid(-quality_score)`` (the world's consumed fraction rises as quality
  falls);
* ``quality`` — the observable quality score;
* ``popularity`` — ``log1p(views)`` (0 when the batch carries no views);
* ``freshness`` — ``exp(-age / 7)`` with ``age = (day + offset(doc)) mod 30`` days and
  ``offset(doc)`` a fixed SplitMix64 hash of the document id mod 30: every document is
  (re)published on a 30-day cycle. The simulated users do not care about freshness; it is
  a realistic nuisance signal a tuner should learn to leave alone.

**Normalisation.** Before fusing, each signal is min-max scaled *per user over the
step's candidates* to [0, 1] (a row where the signal is constant becomes 0), so weights
are comparable across signals and exponents bend the curve: ``x ** 2`` favours the top,
``x ** 0.5`` flattens it. A stage's score is ``Σ weight · sign(x) · |x| ** exponent``
over its terms.

**Stages.** Retrieval keeps the top ``retrieval.keep`` of all candidates by its own
fusion, pre-ranking the top ``pre_ranking.keep`` of those, ranking the top
``ranking.keep`` of those; re-ranking orders its top ``re_ranking.keep`` greedily,
subtracting ``diversity_penalty × (items of the same topic already placed)`` from each
remaining item's fused score at every position (vectorised over users: one round per
position). The returned scores rank the re-ranked list first, in order; every other
candidate gets :data:`LOW_SCORE` (finite: the world refuses non-finite scores). So the
world's top-``slate_size`` is exactly the head of the re-ranked list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evorec.errors import ConfigError
from evorec.simulator.policy import ServingBatch

if TYPE_CHECKING:
    from evorec.simulator.surfaces import Surface

__all__ = [
    "FUSION_SIGNALS",
    "LOW_SCORE",
    "STAGES",
    "FusionConfig",
    "PipelinePolicy",
    "ReRankingConfig",
    "StageConfig",
    "Term",
    "apply_fusion_delta",
    "baseline_fusion",
    "compute_signals",
    "describe_fusion_fields",
    "fusion_patch",
    "fusion_search_space",
    "load_fusion",
]

#: Signals a stage can fuse, and what they mean (see the module docstring).
FUSION_SIGNALS: dict[str, str] = {
    "relevance": "cosine of the user's profile and the document's topic embedding",
    "p_click": "predicted click: the trained ranker's reward-head score when a ranker "
    "serves, else sigmoid(4·relevance − 1)",
    "p_watch": "predicted watch seconds per impression: p_click × predicted watch "
    "(ranker aux head, else length × sigmoid(−quality))",
    "quality": "the document's observable quality score",
    "popularity": "log1p of the document's prior views",
    "freshness": "exp(−age/7), age = (day + hash(doc id)) mod 30 days (users ignore it)",
}

#: The pipeline's stages, in serving order.
STAGES = ("retrieval", "pre_ranking", "ranking", "re_ranking")

#: The score of candidates outside the re-ranked list (finite; far below any real score).
LOW_SCORE = -1.0e9

Signal = Literal["relevance", "p_click", "p_watch", "quality", "popularity", "freshness"]

_MAX_KEEP = 10_000
_FRESH_CYCLE = 30
_FRESH_SCALE = 7.0


class _Strict(BaseModel):
    """Strict base: unknown fields forbidden, no str→number coercion, no NaN/inf."""

    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, validate_default=True, frozen=True
    )


class Term(_Strict):
    """One signal's contribution to a stage score: ``weight · x ** exponent``."""

    weight: float = Field(
        ge=-10.0,
        le=10.0,
        description="Weight of the normalised signal in the stage score (negative demotes).",
    )
    exponent: float = Field(
        default=1.0,
        gt=0.0,
        le=5.0,
        description="Exponent on the normalised signal in [0, 1]: >1 rewards only the top, "
        "<1 flattens differences.",
    )


class StageConfig(_Strict):
    """One stage: how its score fuses signals, and how many items it passes on."""

    keep: int = Field(
        ge=1,
        le=_MAX_KEEP,
        description="Items this stage passes on (its top by fused score); must not exceed "
        "the previous stage's keep, nor the surface's candidates per step.",
    )
    weights: dict[Signal, Term] = Field(
        min_length=1,
        description="Fusion terms by signal (relevance, p_click, p_watch, quality, "
        "popularity, freshness): score = Σ weight · x ** exponent over normalised signals.",
    )


class ReRankingConfig(StageConfig):
    """The last stage: fusion plus a greedy topic-diversity penalty."""

    keep: int = Field(
        ge=1,
        le=_MAX_KEEP,
        description="Length of the re-ranked list (its head is the slate); must be at least "
        "the surface's slate size and at most ranking.keep.",
    )
    diversity_penalty: float = Field(
        default=0.0,
        ge=0.0,
        le=5.0,
        description="Subtracted from an item's fused score for each item of the same topic "
        "already placed higher in the list (0 = no diversification).",
    )


class _KeepOrder(ValueError):
    """A keep-order problem, carrying the JSON Pointer it concerns."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class FusionConfig(_Strict):
    """The fusion configuration of the four-stage pipeline (changed only through deltas)."""

    retrieval: StageConfig = Field(
        description="Candidate retrieval: narrows the step's candidates cheaply."
    )
    pre_ranking: StageConfig = Field(description="Pre-ranking: a light scorer over retrieval.")
    ranking: StageConfig = Field(description="Ranking: the main fused score.")
    re_ranking: ReRankingConfig = Field(
        description="Re-ranking: final order of the slate, with a diversity penalty."
    )

    @model_validator(mode="after")
    def _keeps_shrink(self) -> FusionConfig:
        for prev, cur in zip(STAGES, STAGES[1:], strict=False):
            a, b = getattr(self, prev).keep, getattr(self, cur).keep
            if b > a:
                raise _KeepOrder(
                    f"/{cur}/keep",
                    f"{cur}.keep ({b}) exceeds {prev}.keep ({a}): each stage keeps at most "
                    "what the stage before passed on",
                )
        return self

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (what deltas are applied to)."""
        return self.model_dump(mode="json")

    def content_hash(self) -> str:
        """A stable 16-hex-digit hash of the content (sorted-key JSON, SHA-256)."""
        from evorec.ranker.schema import phi_hash

        return phi_hash(self.to_json())

    def check_surface(self, surface: Surface | str) -> None:
        """Raise ``ConfigError`` unless the keeps fit the surface's candidates and slate."""
        from evorec.simulator.surfaces import get_surface

        s = get_surface(surface)
        if self.retrieval.keep > s.num_candidates:
            raise ConfigError(
                f"/retrieval/keep: retrieval.keep ({self.retrieval.keep}) exceeds the "
                f"{s.num_candidates} candidates per step of surface {s.name!r}"
            )
        if self.re_ranking.keep < s.slate_size:
            raise ConfigError(
                f"/re_ranking/keep: re_ranking.keep ({self.re_ranking.keep}) is below the "
                f"slate size ({s.slate_size}) of surface {s.name!r}"
            )


# ------------------------------------------------------------------------ loading, deltas


def _clean_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors(include_url=False):
        err = (e.get("ctx") or {}).get("error")
        if isinstance(err, _KeepOrder):
            out.append({"path": err.path, "message": str(err)})
            continue
        loc = [str(p) for p in e["loc"]]
        msg = e["msg"]
        if loc and loc[-1] == "[key]":  # a dict key failed: an unknown signal name
            loc.pop()
            msg = f"unknown signal {loc[-1]!r}: use one of {', '.join(FUSION_SIGNALS)}"
        out.append({"path": "/" + "/".join(loc), "message": msg})
    return out


def load_fusion(source: FusionConfig | dict[str, Any] | str | Path) -> FusionConfig:
    """Validate a fusion config from a dict, JSON text or a ``.json`` file path.

    Raises ``ConfigError`` listing every problem with its JSON Pointer.
    """
    if isinstance(source, FusionConfig):
        return source
    data: Any = source
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith(("{", "["))
    ):
        path = Path(source)
        try:
            data = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read fusion config {path}: {exc.strerror or exc}") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the fusion config is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"a fusion config is a JSON object, got {type(data).__name__}")
    try:
        return FusionConfig.model_validate(data)
    except ValidationError as exc:
        errors = _clean_errors(exc)
        lines = [f"{e['path']}: {e['message']}" for e in errors]
        n = len(lines)
        raise ConfigError(
            f"invalid fusion config ({n} problem{'s' if n != 1 else ''}): " + "; ".join(lines),
            errors=errors,
        ) from None


#: The initial configuration: mostly predicted click, a little relevance and quality.
BASELINE_FUSION: dict[str, Any] = {
    "retrieval": {"keep": 50, "weights": {"relevance": {"weight": 1.0}}},
    "pre_ranking": {
        "keep": 20,
        "weights": {"p_click": {"weight": 1.0}, "relevance": {"weight": 0.3}},
    },
    "ranking": {
        "keep": 10,
        "weights": {"p_click": {"weight": 1.0}, "quality": {"weight": 0.2}},
    },
    "re_ranking": {
        "keep": 5,
        "weights": {"p_click": {"weight": 1.0}},
        "diversity_penalty": 0.0,
    },
}


def baseline_fusion() -> FusionConfig:
    """The shipped initial configuration (fits every built-in surface)."""
    return FusionConfig.model_validate(BASELINE_FUSION)


def apply_fusion_delta(config: FusionConfig | dict[str, Any], patch: Any) -> FusionConfig:
    """Apply an RFC 6902 delta and validate the whole result; all or nothing.

    Any failing operation, or a result that is not a valid fusion config, raises
    :class:`~evorec.errors.InvalidDelta` (with the JSON Pointer of the first problem).
    """
    from evorec.delta import apply_validated

    base = config.to_json() if isinstance(config, FusionConfig) else config
    return apply_validated(base, patch, load_fusion, "fusion config")


# ------------------------------------------------------------------------ search space


def _stage_name(stage: str) -> str:
    name = stage.replace("-", "_")
    if name not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")
    return name


def _bounds(model: type[BaseModel], field: str) -> tuple[float | None, bool, float | None, bool]:
    low = high = None
    low_in = high_in = True
    for meta in model.model_fields[field].metadata:
        if getattr(meta, "ge", None) is not None:
            low, low_in = meta.ge, True
        if getattr(meta, "gt", None) is not None:
            low, low_in = meta.gt, False
        if getattr(meta, "le", None) is not None:
            high, high_in = meta.le, True
        if getattr(meta, "lt", None) is not None:
            high, high_in = meta.lt, False
    return low, low_in, high, high_in


def _entry(model: type[BaseModel], field: str, stage: str, **extra: Any) -> dict[str, Any]:
    low, low_in, high, high_in = _bounds(model, field)
    info = model.model_fields[field]
    return {
        "stage": stage,
        "field": field,
        "type": "int" if info.annotation is int else "float",
        "low": low,
        "high": high,
        "low_inclusive": low_in,
        "high_inclusive": high_in,
        "default": None if info.is_required() else info.default,
        "description": info.description or "",
        **extra,
    }


def fusion_search_space(
    stage: str | None = None, *, surface: Surface | str | None = None
) -> dict[str, dict[str, Any]]:
    """Every tunable numeric field: JSON Pointer → bounds, type, description.

    ``stage`` (``pre_ranking`` or ``pre-ranking`` ...) narrows it to one stage. Weight and
    exponent pointers exist for every signal; a signal absent from a config is added as a
    whole term (:func:`fusion_patch` writes such patches). With ``surface``, ``keep``'s
    upper bound is the surface's candidates per step (and re-ranking's lower bound its
    slate size). Keep's cross-stage order (non-increasing) is not expressed by the bounds.
    """
    stages = STAGES if stage is None else (_stage_name(stage),)
    surf = None
    if surface is not None:
        from evorec.simulator.surfaces import get_surface

        surf = get_surface(surface)
    space: dict[str, dict[str, Any]] = {}
    for st in stages:
        model = ReRankingConfig if st == "re_ranking" else StageConfig
        keep = _entry(model, "keep", st)
        if surf is not None:
            keep["high"] = surf.num_candidates
            if st == "re_ranking":
                keep["low"] = surf.slate_size
        space[f"/{st}/keep"] = keep
        for sig, meaning in FUSION_SIGNALS.items():
            for f in ("weight", "exponent"):
                space[f"/{st}/weights/{sig}/{f}"] = _entry(
                    Term, f, st, signal=sig, signal_description=meaning
                )
        if st == "re_ranking":
            space[f"/{st}/diversity_penalty"] = _entry(ReRankingConfig, "diversity_penalty", st)
    return space


def describe_fusion_fields(stage: str | None = None) -> list[tuple[str, str, str]]:
    """(JSON Pointer, type with bounds, description) rows for prompts."""
    rows: list[tuple[str, str, str]] = []
    for path, e in fusion_search_space(stage).items():
        lo = "≥" if e["low_inclusive"] else ">"
        hi = "≤" if e["high_inclusive"] else "<"
        desc = e["description"]
        if "signal" in e:
            desc = f"{e['signal']} ({e['signal_description']}): {desc}"
        rows.append((path, f"{e['type']} ({lo}{e['low']}, {hi}{e['high']})", desc))
    return rows


def fusion_patch(config: FusionConfig | dict[str, Any], values: dict[str, Any]) -> list[dict]:
    """A delta setting search-space pointers to values (adds missing terms whole).

    ``values`` maps pointers of :func:`fusion_search_space` to numbers; a weight or
    exponent of a signal the stage does not fuse yet adds the term (weight 0 / exponent 1
    for the half not given). The patch is not validated here: apply it with
    :func:`apply_fusion_delta`.
    """
    base = config.to_json() if isinstance(config, FusionConfig) else config
    ops: list[dict[str, Any]] = []
    new_terms: dict[tuple[str, str], dict[str, Any]] = {}
    for path, value in values.items():
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[1] == "weights":
            st, _, sig, f = parts
            if sig not in base.get(st, {}).get("weights", {}):
                new_terms.setdefault((st, sig), {"weight": 0.0, "exponent": 1.0})[f] = value
                continue
        ops.append({"op": "replace", "path": path, "value": value})
    for (st, sig), term in new_terms.items():
        ops.append({"op": "add", "path": f"/{st}/weights/{sig}", "value": term})
    return ops


# ------------------------------------------------------------------------ signals


def _minmax_rows(x: np.ndarray) -> np.ndarray:
    """[U, D] → per-row min-max to [0, 1]; constant rows become 0."""
    lo = x.min(axis=1, keepdims=True)
    span = x.max(axis=1, keepdims=True) - lo
    return np.where(span > 1e-12, (x - lo) / np.where(span > 1e-12, span, 1.0), 0.0)


def _freshness(doc_ids: np.ndarray, day: int) -> np.ndarray:
    from evorec.simulator.ab import _splitmix64

    offset = _splitmix64(np.asarray(doc_ids, dtype=np.uint64)) % np.uint64(_FRESH_CYCLE)
    age = (offset.astype(np.int64) + int(day)) % _FRESH_CYCLE
    return np.exp(-age / _FRESH_SCALE)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


class _RankerHeads:
    """A trained ranker's heads as [U, D] arrays (one batched forward per head used)."""

    def __init__(self, source: Any) -> None:
        from evorec.ranker.serving import RankerPolicy

        policy = source if isinstance(source, RankerPolicy) else RankerPolicy(source)
        self.model = policy.model
        phi = getattr(source, "phi", None)
        loss = getattr(getattr(phi, "reward", None), "loss", "bce")
        self.reward_is_logit = loss == "bce"
        self.heads = list(self.model.head_names)

    def head(self, name: str, batch: ServingBatch) -> np.ndarray:
        import torch

        from evorec.ranker.serving import score_batch

        i = self.heads.index(name)
        model = self.model

        class _One(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.m = model

            def forward(self, ids: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
                return self.m(ids, dense)[:, i : i + 1]

        return score_batch(_One(), batch).astype(np.float64)


def compute_signals(
    batch: ServingBatch, names: Any = tuple(FUSION_SIGNALS), *, ranker: Any = None
) -> dict[str, np.ndarray]:
    """Raw (un-normalised) [U, D] float64 signals by name; only those asked are computed.

    ``ranker`` is an Artifact, TrainResult, Ranker, artifact path or ``RankerPolicy``
    (loaded once by :class:`PipelinePolicy`; here it may also be a prepared heads object).
    """
    from evorec.simulator.policies import _relevance

    heads = ranker if (ranker is None or isinstance(ranker, _RankerHeads)) else _RankerHeads(ranker)
    u, d = batch.user_ids.shape[0], batch.doc_ids.shape[0]
    want = set(names)
    if "p_watch" in want:
        want.add("p_click")
    if "p_click" in want and heads is None:
        want.add("relevance")
    out: dict[str, np.ndarray] = {}

    def doc(x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=np.float64)[None, :], (u, d))

    if "relevance" in want:
        out["relevance"] = _relevance(batch).astype(np.float64)
    if "p_click" in want:
        if heads is None:
            out["p_click"] = _sigmoid(4.0 * out["relevance"] - 1.0)
        else:
            r = heads.head("reward", batch)
            out["p_click"] = _sigmoid(r) if heads.reward_is_logit else r
    if "p_watch" in want:
        length = doc(batch.doc_length)
        if heads is not None and "watch_time" in heads.heads:
            watch = _sigmoid(heads.head("watch_time", batch))
        elif heads is not None and "completion" in heads.heads:
            watch = length * _sigmoid(heads.head("completion", batch))
        else:
            watch = length * _sigmoid(-doc(batch.doc_quality_score))
        out["p_watch"] = out["p_click"] * watch
    if "quality" in want:
        out["quality"] = doc(batch.doc_quality_score)
    if "popularity" in want:
        views = batch.doc_views if batch.doc_views is not None else np.zeros(d)
        out["popularity"] = doc(np.log1p(np.maximum(np.asarray(views, np.float64), 0.0)))
    if "freshness" in want:
        out["freshness"] = doc(_freshness(batch.doc_ids, batch.day))
    return {k: out[k] for k in names if k in out}


# ------------------------------------------------------------------------ the policy


def _fuse(stage: StageConfig, norm: dict[str, np.ndarray]) -> np.ndarray:
    total: np.ndarray | float = 0.0
    for sig, term in stage.weights.items():
        x = norm[sig]
        total = total + term.weight * (np.sign(x) * np.abs(x) ** term.exponent)
    return np.asarray(total, dtype=np.float64)


class PipelinePolicy:
    """The four-stage pipeline as a simulator policy (``score(batch) -> [U, D]``).

    ``ranker`` (optional) supplies ``p_click`` and ``p_watch``; ``surface`` (optional)
    checks the keeps against it at once (:meth:`FusionConfig.check_surface`); otherwise
    they are checked against each batch when serving.
    """

    def __init__(
        self,
        config: FusionConfig | dict[str, Any] | str | Path,
        *,
        ranker: Any = None,
        name: str = "pipeline",
        surface: Surface | str | None = None,
    ) -> None:
        self.config = load_fusion(config)
        self.name = name
        self._heads = None if ranker is None else _RankerHeads(ranker)
        if surface is not None:
            self.config.check_surface(surface)
        used: list[str] = []
        for st in STAGES:
            for sig in getattr(self.config, st).weights:
                if sig not in used:
                    used.append(sig)
        self.signals = tuple(used)

    def check_surface(self, surface: Surface | str) -> None:
        """See :meth:`FusionConfig.check_surface`."""
        self.config.check_surface(surface)

    def normalised_signals(self, batch: ServingBatch) -> dict[str, np.ndarray]:
        """[U, D] signals used by the config, min-max scaled per user to [0, 1]."""
        raw = compute_signals(batch, self.signals, ranker=self._heads)
        return {k: _minmax_rows(v) for k, v in raw.items()}

    def rank(self, batch: ServingBatch) -> np.ndarray:
        """[U, R] int64 candidate indices of the re-ranked list, best first (R = re_ranking.keep)."""
        cfg = self.config
        u, d = batch.user_ids.shape[0], batch.doc_ids.shape[0]
        if cfg.retrieval.keep > d:
            raise ConfigError(
                f"/retrieval/keep: retrieval.keep ({cfg.retrieval.keep}) exceeds the {d} "
                "candidates of this step"
            )
        r = cfg.re_ranking.keep
        if u == 0:
            return np.zeros((0, r), dtype=np.int64)
        norm = self.normalised_signals(batch)
        rows = np.arange(u)[:, None]
        alive = np.ones((u, d), dtype=bool)
        for st in STAGES[:-1]:
            stage = getattr(cfg, st)
            s = np.where(alive, _fuse(stage, norm), -np.inf)
            top = np.argsort(-s, axis=1, kind="stable")[:, : stage.keep]
            alive = np.zeros((u, d), dtype=bool)
            alive[rows, top] = True
        # Re-ranking: greedy, one position per round for all users at once.
        score = np.where(alive, _fuse(cfg.re_ranking, norm), -np.inf)
        topic = np.asarray(batch.doc_topic, dtype=np.int64)
        topic_idx = np.unique(topic, return_inverse=True)[1].reshape(-1)
        counts = np.zeros((u, int(topic_idx.max()) + 1), dtype=np.float64)
        penalty = cfg.re_ranking.diversity_penalty
        order = np.empty((u, r), dtype=np.int64)
        flat = np.arange(u)
        for pos in range(r):
            adjusted = score - penalty * counts[:, topic_idx] if penalty > 0 else score
            pick = np.argmax(adjusted, axis=1)
            order[:, pos] = pick
            score[flat, pick] = -np.inf
            counts[flat, topic_idx[pick]] += 1.0
        return order

    def propensity(self, batch: ServingBatch, slate: np.ndarray) -> np.ndarray:
        """[U, K] slate-inclusion probabilities: 1 (the pipeline is deterministic)."""
        return np.ones(slate.shape, dtype=np.float32)

    def score(self, batch: ServingBatch) -> np.ndarray:
        """[U, D] float32: the re-ranked list scores R, R-1, ..., 1; others ``LOW_SCORE``."""
        u, d = batch.user_ids.shape[0], batch.doc_ids.shape[0]
        order = self.rank(batch)
        out = np.full((u, d), LOW_SCORE, dtype=np.float32)
        r = order.shape[1]
        out[np.arange(u)[:, None], order] = np.arange(r, 0, -1, dtype=np.float32)[None, :]
        return out
