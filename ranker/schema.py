"""Φ, the ranker's meta-configuration: optimizer, architecture, reward, training, constraints.

Φ is what the agents change (through deltas, never by rewriting it) and what the ranker is
built from. Every field has a description because the descriptions go into the agents'
prompts, every number has bounds, unknown fields are refused, strings never pass for
numbers, and NaN/inf are refused.

The shipped :data:`PRODUCTION_BASELINE` mirrors the paper's starting point: Adagrad, a plain
ReLU MLP and a click-only label.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evorec.errors import ConfigError

__all__ = [
    "SIGNALS",
    "Architecture",
    "AuxHead",
    "Constraints",
    "CrossLayers",
    "GatedPath",
    "Optimizer",
    "PRODUCTION_BASELINE",
    "Phi",
    "Reward",
    "RewardTerm",
    "Training",
    "baseline_phi",
    "describe_fields",
    "json_schema",
    "load_phi",
    "phi_hash",
]

#: Per-impression response signals the logged data holds and reward logic may compose.
#: ``survey`` is sparse (NULL when not asked) and noisy; see ``RewardTerm.fill_missing``.
SIGNALS = ("click", "watch_time", "completion", "like", "dismiss", "survey")

Signal = Literal["click", "watch_time", "completion", "like", "dismiss", "survey"]


class _Section(BaseModel):
    """Strict base: unknown fields forbidden, no str→number coercion, no NaN/inf."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        validate_default=True,
        frozen=True,
    )


# --------------------------------------------------------------------------- optimizer


class Optimizer(_Section):
    """How θ is fitted: the algorithm, its parameters, schedule, warm-up and clipping."""

    algorithm: Literal["adagrad", "rmsprop", "adam", "adamw", "sgd"] = Field(
        description=(
            "Optimization algorithm. adagrad: per-parameter rates shrinking with the sum of "
            "squared gradients (robust for sparse embeddings, but rates decay forever); "
            "rmsprop: exponential moving average of squared gradients instead of a sum; "
            "adam/adamw: momentum plus RMS scaling (adamw decouples weight decay); "
            "sgd: plain or momentum SGD."
        )
    )
    learning_rate: float = Field(gt=0.0, le=10.0, description="Peak learning rate (after warm-up).")
    momentum: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Momentum coefficient for sgd and rmsprop; ignored by adagrad/adam/adamw.",
    )
    nesterov: bool = Field(
        default=False, description="Nesterov momentum (sgd only; requires momentum > 0)."
    )
    beta1: float = Field(
        default=0.9, ge=0.0, lt=1.0, description="First-moment decay for adam/adamw."
    )
    beta2: float = Field(
        default=0.999, ge=0.0, lt=1.0, description="Second-moment decay for adam/adamw."
    )
    rho: float = Field(
        default=0.99,
        gt=0.0,
        lt=1.0,
        description="rmsprop's decay of the squared-gradient moving average (torch 'alpha').",
    )
    initial_accumulator: float = Field(
        default=0.1,
        ge=0.0,
        le=10.0,
        description="adagrad's starting value of the squared-gradient accumulator.",
    )
    eps: float = Field(
        default=1e-8, gt=0.0, le=1.0, description="Numerical-stability term of the denominator."
    )
    weight_decay: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="L2 penalty (decoupled for adamw, added to the gradient otherwise).",
    )
    schedule: Literal["constant", "cosine", "linear", "exponential"] = Field(
        default="constant",
        description=(
            "Learning-rate schedule after warm-up: constant; cosine or linear decay to "
            "min_lr_ratio × peak at the end of training; exponential multiplies by decay_rate "
            "every 1,000 steps."
        ),
    )
    min_lr_ratio: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Final learning rate as a fraction of the peak, for cosine and linear.",
    )
    decay_rate: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description="Per-1,000-steps multiplier for the exponential schedule.",
    )
    warmup_steps: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="Steps of linear warm-up from 0 to the peak learning rate.",
    )
    grad_clip_norm: float | None = Field(
        default=None,
        gt=0.0,
        le=1_000.0,
        description="Clip the global gradient L2 norm to this value; null disables clipping.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Optimizer:
        if self.nesterov and (self.algorithm != "sgd" or self.momentum <= 0.0):
            raise ValueError("nesterov requires algorithm 'sgd' and momentum > 0")
        return self


# ------------------------------------------------------------------------- architecture


class GatedPath(_Section):
    """A GLU-style gated path beside the MLP tower: out = (W_v x) ⊙ σ(W_g x)."""

    hidden: int = Field(ge=4, le=2048, description="Width of the gated path's value and gate.")
    gate_activation: Literal["sigmoid", "gelu", "silu"] = Field(
        default="sigmoid",
        description=(
            "Nonlinearity applied to the gate: sigmoid gives GLU, gelu GEGLU, silu SwiGLU."
        ),
    )


class CrossLayers(_Section):
    """Explicit feature crosses (DCN-v2): x_{l+1} = x_0 ⊙ (W x_l + b) + x_l."""

    count: int = Field(ge=1, le=6, description="Number of stacked cross layers.")
    low_rank: int | None = Field(
        default=None,
        ge=2,
        le=512,
        description="Rank of a low-rank factorisation of W (fewer parameters); null = full rank.",
    )


class AuxHead(_Section):
    """An auxiliary prediction head trained beside the reward head (multi-task learning)."""

    signal: Signal = Field(description="Logged signal this head predicts.")
    weight: float = Field(
        gt=0.0, le=10.0, description="Weight of this head's loss in the total training loss."
    )


class Architecture(_Section):
    """The ranking network: embeddings → (cross layers) → MLP tower (+ gated path) → heads."""

    embedding_dim: int = Field(
        ge=2, le=256, description="Width of the user-id, document-id and topic embeddings."
    )
    tower_widths: Annotated[
        list[Annotated[int, Field(ge=4, le=4096)]], Field(min_length=1, max_length=8)
    ] = Field(
        description="Hidden-layer widths of the MLP tower, input side first (depth = length)."
    )
    activation: Literal["relu", "gelu", "silu", "tanh"] = Field(
        description="Hidden activation of the tower: relu, gelu, silu (a.k.a. Swish) or tanh."
    )
    gated_path: GatedPath | None = Field(
        default=None,
        description="Optional GLU-style gated path added to the tower's output; null = none.",
    )
    cross_layers: CrossLayers | None = Field(
        default=None, description="Optional DCN-v2 feature-cross layers on the input; null = none."
    )
    normalization: Literal["none", "layernorm", "batchnorm"] = Field(
        default="none", description="Normalisation after each hidden layer of the tower."
    )
    dropout: float = Field(
        default=0.0, ge=0.0, le=0.9, description="Dropout probability after each hidden layer."
    )
    aux_heads: Annotated[list[AuxHead], Field(max_length=6)] = Field(
        default_factory=list,
        description=(
            "Auxiliary heads predicting individual signals (multi-task). The reward head, "
            "which is always present and is the serving score, is not listed here."
        ),
    )

    @model_validator(mode="after")
    def _unique_heads(self) -> Architecture:
        signals = [h.signal for h in self.aux_heads]
        if len(signals) != len(set(signals)):
            raise ValueError(f"aux_heads predict a signal twice: {signals}")
        return self


# ------------------------------------------------------------------------------ reward


class RewardTerm(_Section):
    """One term of the label: weight × transform(signal)."""

    signal: Signal = Field(
        description=(
            "Logged per-impression signal: click (0/1), watch_time (seconds), completion "
            "(fraction of the video watched, 0..1), like (0/1), dismiss (0/1), survey "
            "(1..5 satisfaction answer, sparse: NULL when not asked)."
        )
    )
    weight: float = Field(
        ge=-100.0, le=100.0, description="Multiplier of the transformed signal (may be negative)."
    )
    transform: Literal["identity", "log1p", "clip", "threshold"] = Field(
        default="identity",
        description=(
            "identity: x; log1p: log(1 + x); clip: min(x, param); threshold: 1 if x ≥ param else 0."
        ),
    )
    param: float | None = Field(
        default=None,
        ge=-1e6,
        le=1e6,
        description="The bound for clip or threshold; must be null for identity and log1p.",
    )
    fill_missing: float = Field(
        default=0.0,
        ge=-1e6,
        le=1e6,
        description="Value used where the signal is NULL (survey when not asked).",
    )

    @model_validator(mode="after")
    def _param_matches_transform(self) -> RewardTerm:
        needs = self.transform in ("clip", "threshold")
        if needs and self.param is None:
            raise ValueError(f"transform '{self.transform}' needs a numeric param")
        if not needs and self.param is not None:
            raise ValueError(f"transform '{self.transform}' takes no param (set it to null)")
        return self


class Reward(_Section):
    """The label logic: label = Σ weight × transform(signal), trained with the given loss."""

    terms: Annotated[list[RewardTerm], Field(min_length=1, max_length=12)] = Field(
        description="Terms of the weighted composition that defines the training label."
    )
    loss: Literal["bce", "mse"] = Field(
        default="bce",
        description=(
            "bce: logistic loss, the label clamped to [0, 1] (a soft label); "
            "mse: squared error on the raw label (regression)."
        ),
    )


# ---------------------------------------------------------------------- training, limits


class Training(_Section):
    """How much training θ gets, and its seed."""

    batch_size: int = Field(ge=16, le=65_536, description="Examples per optimisation step.")
    epochs: int = Field(ge=1, le=100, description="Passes over the training split.")
    max_steps: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="Stop after this many steps even if epochs remain; null = no cap.",
    )
    seed: int = Field(ge=0, le=2**31 - 1, description="Seed for initialisation and shuffling.")


class Constraints(_Section):
    """System constraints G(Φ) ≤ C, checked before any training is spent."""

    max_params: int = Field(
        ge=1_000, le=1_000_000_000, description="Maximum number of trainable parameters."
    )
    max_latency_ms_per_1k: float = Field(
        gt=0.0,
        le=10_000.0,
        description="Maximum scoring latency, milliseconds per 1,000 candidates (batched, CPU).",
    )


class Phi(_Section):
    """Φ: the complete meta-configuration of the ranking model."""

    optimizer: Optimizer = Field(description="Training algorithm and hyperparameters.")
    architecture: Architecture = Field(description="Network topology.")
    reward: Reward = Field(description="Label logic (what the model is trained to predict).")
    training: Training = Field(description="Training budget and seed.")
    constraints: Constraints = Field(description="Latency and size limits the model must meet.")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (what deltas are applied to)."""
        return self.model_dump(mode="json")

    def content_hash(self) -> str:
        """A stable short hash of Φ's content (sorted-key JSON, SHA-256, 16 hex digits)."""
        return phi_hash(self)


def phi_hash(phi: Phi | dict[str, Any]) -> str:
    """Stable 16-hex-digit content hash of Φ (or its JSON form)."""
    data = phi.to_json() if isinstance(phi, Phi) else phi
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


PRODUCTION_BASELINE: dict[str, Any] = {
    "optimizer": {
        "algorithm": "adagrad",
        "learning_rate": 0.05,
        "initial_accumulator": 0.1,
        "schedule": "constant",
        "warmup_steps": 0,
    },
    "architecture": {
        "embedding_dim": 16,
        "tower_widths": [64, 32],
        "activation": "relu",
        "normalization": "none",
        "dropout": 0.0,
    },
    "reward": {"terms": [{"signal": "click", "weight": 1.0}], "loss": "bce"},
    "training": {"batch_size": 1024, "epochs": 2, "seed": 0},
    "constraints": {"max_params": 2_000_000, "max_latency_ms_per_1k": 50.0},
}
"""The paper's starting point: Adagrad, a plain ReLU MLP, a click-only label."""


def baseline_phi() -> Phi:
    """The shipped production baseline, validated, with every default filled in."""
    return Phi.model_validate(PRODUCTION_BASELINE)


def load_phi(source: str | dict[str, Any]) -> Phi:
    """Validate Φ from JSON text or parsed JSON; raises ``ConfigError`` listing every problem."""
    try:
        if isinstance(source, str):
            return Phi.model_validate_json(source)
        return Phi.model_validate(source)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc), errors=_clean_errors(exc)) from None


def _clean_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"path": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False)
    ]


def _format_validation(exc: ValidationError) -> str:
    lines = [f"{e['path']}: {e['message']}" for e in _clean_errors(exc)]
    return f"invalid Φ ({len(lines)} problem{'s' if len(lines) != 1 else ''}): " + "; ".join(lines)


def describe_fields(model: type[BaseModel] = Phi, prefix: str = "") -> list[tuple[str, str, str]]:
    """Flatten a section's fields into (JSON Pointer, type, description) rows for prompts."""
    rows: list[tuple[str, str, str]] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}/{name}"
        annotation = info.annotation
        nested = _nested_model(annotation)
        if nested is not None and nested is not model:
            rows.append((path, nested.__name__, info.description or ""))
            rows.extend(describe_fields(nested, path))
        else:
            rows.append((path, _type_name(annotation, info), info.description or ""))
    return rows


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _type_name(annotation: Any, info: Any) -> str:
    from typing import get_args, get_origin

    if get_origin(annotation) is Literal:
        text = "one of " + "|".join(str(a) for a in get_args(annotation))
    else:
        text = getattr(annotation, "__name__", None) or str(annotation)
        text = text.replace("typing.", "")
    bounds = []
    for meta in info.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{sym}{value}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def json_schema() -> dict[str, Any]:
    """Φ's JSON Schema (what ``evorec config schema`` prints)."""
    return Phi.model_json_schema()
