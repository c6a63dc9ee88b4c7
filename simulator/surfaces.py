"""Surfaces: named world configurations of the simulated platform.

A :class:`Surface` holds every parameter of one simulated world — population, corpus, slate
size, session length and the dynamics of satisfaction and return — so a change found on one
surface can be tried on another. Three are built in (:data:`SURFACES`); any other can be
given as a JSON or YAML file of the same fields (:func:`get_surface`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evorec.errors import ConfigError

__all__ = ["SURFACES", "Surface", "get_surface"]


class Surface(BaseModel):
    """One world configuration (population, corpus, slate, session and return dynamics)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=64, description="Surface name.")
    description: str = Field(default="", description="What this surface simulates.")

    # --- population ---------------------------------------------------------------------
    num_topics: int = Field(default=10, ge=2, le=64, description="Number of content topics T.")
    interest_scale: float = Field(
        default=1.0, gt=0, le=5, description="Std of users' initial topic interests."
    )
    profile_noise: float = Field(
        default=0.5,
        ge=0,
        le=5,
        description="Std of the noise on the observable user profile (users.features).",
    )
    initial_satisfaction: float = Field(
        default=0.3, ge=-2, le=2, description="Mean latent satisfaction at sign-up."
    )
    satisfaction_spread: float = Field(
        default=0.3, ge=0, le=2, description="Std of latent satisfaction at sign-up."
    )

    # --- corpus -------------------------------------------------------------------------
    num_docs: int = Field(default=1000, ge=2, le=1_000_000, description="Corpus size.")
    num_candidates: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Candidate documents per step, drawn from the corpus and shared by all "
        "users of the step (the candidate-generation stage).",
    )
    trashy_topic_fraction: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="Share of topics whose mean quality is negative (RecSim NG: 70%).",
    )
    quality_spread: float = Field(
        default=0.3, ge=0, le=3, description="Std of document quality around its topic mean."
    )
    quality_score_noise: float = Field(
        default=0.3,
        ge=0,
        le=3,
        description="Std of the noise on the observable quality score (documents.quality_score).",
    )
    feature_noise: float = Field(
        default=0.3,
        ge=0,
        le=3,
        description="Std of the noise on document topic embeddings (one-hot + noise).",
    )
    mean_length: float = Field(
        default=300.0, gt=0, le=36_000, description="Median video length in seconds."
    )
    length_spread: float = Field(
        default=0.5, ge=0, le=3, description="Log-normal sigma of video lengths."
    )

    # --- serving / session ------------------------------------------------------------------
    slate_size: int = Field(default=5, ge=1, le=100, description="Items shown per step (K).")
    steps_per_day: int = Field(
        default=10, ge=1, le=500, description="Session steps per simulated day (max slates)."
    )

    # --- response and dynamics --------------------------------------------------------------
    clickbait_appeal: float = Field(
        default=1.5,
        ge=0,
        le=10,
        description="Click-utility weight on low quality (-quality): how strongly clickbait "
        "draws clicks now.",
    )
    no_click_mass: float = Field(
        default=0.5, ge=-10, le=10, description="Utility of not clicking (MNL choice model)."
    )
    interest_step_size: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="RecSim NG interest evolution: step towards (quality>0) or away from "
        "(quality<0) a consumed document's topic.",
    )
    satisfaction_rate: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="Per-step rate at which satisfaction moves to the step's experience.",
    )
    quality_satisfaction: float = Field(
        default=1.5,
        ge=0,
        le=10,
        description="Experience of a click: tanh(quality_satisfaction * quality) + completion term.",
    )
    boredom: float = Field(
        default=-0.05,
        ge=-2,
        le=2,
        description="Experience of a step without a click.",
    )
    satisfaction_recovery: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Overnight pull of satisfaction back towards its sign-up value.",
    )
    return_bias: float = Field(
        default=0.3, ge=-10, le=10, description="Daily return logit at zero satisfaction."
    )
    return_slope: float = Field(
        default=3.0, ge=0, le=20, description="Daily return logit per unit satisfaction."
    )
    continue_bias: float = Field(
        default=1.5, ge=-10, le=10, description="Logit of continuing the session to the next step."
    )
    continue_slope: float = Field(
        default=2.0, ge=0, le=20, description="Session-continue logit per unit satisfaction."
    )
    completion_bias: float = Field(
        default=0.0, ge=-10, le=10, description="Logit of the watched fraction at quality 0."
    )
    like_bias: float = Field(default=-2.0, ge=-10, le=10, description="Like logit at quality 0.")
    dismiss_bias: float = Field(
        default=-3.5, ge=-10, le=10, description="Dismiss logit of a shown, unclicked item."
    )
    survey_rate: float = Field(
        default=0.03, ge=0, le=1, description="Chance a click is followed by a survey question."
    )
    survey_noise: float = Field(
        default=0.8, ge=0, le=5, description="Std of the noise on survey answers (1..5 scale)."
    )

    # --- logging policy and A/B ---------------------------------------------------------------
    logging_epsilon: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Exploration of the logging policy: share of slates drawn uniformly at random.",
    )
    ab_pre_days: int = Field(
        default=2,
        ge=0,
        le=60,
        description="Pre-experiment days run with the control policy for everybody; they give "
        "the CUPED covariates.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Surface:
        if self.num_candidates > self.num_docs:
            raise ValueError(
                f"num_candidates ({self.num_candidates}) exceeds num_docs ({self.num_docs})"
            )
        if self.slate_size > self.num_candidates:
            raise ValueError(
                f"slate_size ({self.slate_size}) exceeds num_candidates ({self.num_candidates})"
            )
        return self

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "surface") -> Surface:
        """Validate a mapping into a Surface; any problem becomes a :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of surface fields")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errors = [
                {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()
            ]
            detail = "; ".join(f"{e['loc'] or '<root>'}: {e['msg']}" for e in errors)
            raise ConfigError(f"{source} is invalid: {detail}", errors=errors) from None


#: The built-in surfaces: a home feed, watch-next and a short-video feed.
SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            name="home_feed",
            description="Home feed: broad interests, 5-item slates, ~5-minute videos, "
            "10-slate sessions.",
        ),
        Surface(
            name="watch_next",
            description="Watch-next: narrower, more stable interests, long videos, 3-item "
            "slates, short sessions, strong clickbait pull.",
            num_topics=8,
            interest_scale=1.5,
            profile_noise=0.3,
            initial_satisfaction=0.4,
            num_docs=600,
            num_candidates=60,
            mean_length=900.0,
            length_spread=0.6,
            slate_size=3,
            steps_per_day=6,
            clickbait_appeal=2.0,
            no_click_mass=0.0,
            interest_step_size=0.15,
            satisfaction_rate=0.2,
            return_bias=0.2,
            continue_bias=1.0,
            survey_rate=0.05,
            logging_epsilon=0.15,
        ),
        Surface(
            name="shorts",
            description="Short-video feed: one video at a time, ~30 s clips, long sessions, "
            "fast-moving satisfaction, a large corpus.",
            num_topics=16,
            interest_scale=0.8,
            profile_noise=0.7,
            initial_satisfaction=0.2,
            satisfaction_spread=0.4,
            num_docs=3000,
            num_candidates=200,
            trashy_topic_fraction=0.6,
            mean_length=30.0,
            length_spread=0.4,
            slate_size=1,
            steps_per_day=30,
            clickbait_appeal=1.2,
            no_click_mass=-1.0,
            satisfaction_rate=0.08,
            boredom=-0.1,
            return_bias=0.5,
            return_slope=2.5,
            continue_bias=2.5,
            like_bias=-2.5,
            dismiss_bias=-2.5,
            survey_rate=0.01,
            logging_epsilon=0.05,
        ),
    )
}


def get_surface(name_or_path: str | Path | Surface) -> Surface:
    """A built-in surface by name, or one read from a ``.json``/``.yaml``/``.yml`` file.

    Raises :class:`ConfigError` for an unknown name, a missing or malformed file, or
    parameters that fail validation.
    """
    if isinstance(name_or_path, Surface):
        return name_or_path
    text = str(name_or_path)
    if text in SURFACES:
        return SURFACES[text]
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        known = ", ".join(sorted(SURFACES))
        raise ConfigError(
            f"unknown surface {text!r}: use one of {known}, or a .json/.yaml file path"
        )
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"surface file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read surface file {path}: {exc.strerror}") from None
    if suffix == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"surface file {path} is not valid JSON: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"surface file {path} is not valid YAML: {exc}") from None
    if isinstance(data, dict) and "name" not in data:
        data = {**data, "name": path.stem}
    return Surface.from_dict(data, source=f"surface file {path}")
