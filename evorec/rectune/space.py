"""The search space of a tuning task: JSON pointers into the fusion configuration with bounds.

A search space maps a JSON pointer (``/stages/ranking/weights/click``) to a :class:`Bound`:
the lowest and highest value the tuner may set, whether the field is a float or an integer,
and what the field means. It comes from the simulator's ``fusion_search_space(stage)`` and
is narrowed by the Skill agent after failures; it lives in the skill, so a later run of the
same task starts from the narrowed space.

Helpers here read pointers in a configuration (JSON), turn new values into an RFC 6902
delta, list what a candidate changed, and measure how far apart two candidates are (the
Critic's diversity rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evorec.errors import ConfigError

__all__ = [
    "Bound",
    "changed_values",
    "config_distance",
    "delta_for",
    "normalise_space",
    "read_pointer",
    "read_value",
]


class Bound(BaseModel):
    """Range of one tunable field."""

    model_config = ConfigDict(extra="forbid")

    low: float = Field(description="Lowest value the tuner may set.")
    high: float = Field(description="Highest value the tuner may set.")
    kind: Literal["float", "int"] = Field(default="float", description="Value type.")
    description: str = Field(default="", description="What the field does.")

    @model_validator(mode="after")
    def _ordered(self) -> Bound:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"bound [{self.low}, {self.high}] is not an interval")
        return self

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and float(value) != int(value):
            return False
        tol = 1e-9 * max(1.0, abs(self.high), abs(self.low))
        return self.low - tol <= float(value) <= self.high + tol

    def clip(self, value: float) -> float | int:
        x = min(max(float(value), self.low), self.high)
        if self.kind == "int":
            return int(round(x))
        return float(f"{x:.4g}")

    @property
    def width(self) -> float:
        return self.high - self.low


def _first(spec: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in spec and spec[name] is not None:
            return spec[name]
    return None


def normalise_space(raw: Mapping[str, Any]) -> dict[str, Bound]:
    """Pointer → :class:`Bound` from the simulator's search-space description.

    Accepts per field a :class:`Bound`, a ``(low, high)`` pair, or a mapping with
    ``low``/``high`` (or ``min``/``max``, ``lower``/``upper``, or ``bounds: [low, high]``),
    an optional ``type``/``kind`` (``float`` | ``int``) and ``description``.
    """
    out: dict[str, Bound] = {}
    for pointer, spec in dict(raw).items():
        if not str(pointer).startswith("/"):
            raise ConfigError(f"search-space key {pointer!r} is not a JSON pointer")
        if hasattr(spec, "model_dump") and not isinstance(spec, Bound):
            spec = spec.model_dump()
        elif not isinstance(spec, Bound | Mapping) and hasattr(spec, "__dict__"):
            spec = dict(vars(spec))
        if isinstance(spec, Bound):
            out[pointer] = spec
            continue
        if isinstance(spec, list | tuple) and len(spec) == 2:
            low, high, kind, text = spec[0], spec[1], None, ""
        elif isinstance(spec, Mapping):
            low = _first(spec, "low", "min", "lower", "ge")
            high = _first(spec, "high", "max", "upper", "le")
            pair = _first(spec, "bounds", "range")
            if (low is None or high is None) and pair is not None:
                low, high = pair[0], pair[1]
            kind = _first(spec, "kind", "type", "dtype")
            text = str(_first(spec, "description", "doc", "help") or "")
            if spec.get("signal"):
                meaning = spec.get("signal_description")
                text = f"{spec['signal']}{f' ({meaning})' if meaning else ''}: {text}"
            if low is not None and high is not None:
                # An open end becomes a closed one a hair inside (1 % of the range).
                step = 0.01 * (float(high) - float(low))
                if spec.get("low_inclusive") is False:
                    low = float(low) + step
                if spec.get("high_inclusive") is False:
                    high = float(high) - step
        else:
            raise ConfigError(f"cannot read the bounds of {pointer!r} from {spec!r}")
        if low is None or high is None:
            raise ConfigError(f"search-space field {pointer!r} has no bounds: {spec!r}")
        if kind is None:
            kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
        kind = "int" if str(kind).lower().startswith("int") else "float"
        try:
            out[pointer] = Bound(low=float(low), high=float(high), kind=kind, description=text)
        except ValueError as exc:
            raise ConfigError(f"search-space field {pointer!r}: {exc}") from None
    return out


_MISSING = object()

#: The value a fusion term's field has while the term is absent from its stage.
_ABSENT_TERM = {"weight": 0.0, "exponent": 1.0}


def read_value(config: Any, pointer: str) -> Any:
    """The effective value at ``pointer`` of a fusion configuration (JSON).

    A signal's weight or exponent reads as 0 or 1 while the stage does not fuse that
    signal (what :func:`~evorec.simulator.pipeline.fusion_patch` adds it with).
    """
    value = read_pointer(config, pointer, None)
    if value is None:
        return _ABSENT_TERM.get(pointer.rsplit("/", 1)[-1])
    return value


def read_pointer(doc: Any, pointer: str, default: Any = _MISSING) -> Any:
    """The value at an RFC 6901 pointer in a JSON document."""
    node = doc
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            if default is _MISSING:
                raise ConfigError(f"no field at {pointer!r}") from None
            return default
    return node


def delta_for(config: Any, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An RFC 6902 patch that sets each pointer of ``config`` to its value (a term the
    stage does not fuse yet is added whole)."""
    from evorec.simulator.pipeline import fusion_patch

    return fusion_patch(config, {p: values[p] for p in sorted(values)})


def changed_values(base: Any, candidate: Any, pointers: Any) -> dict[str, tuple[Any, Any]]:
    """Pointer → (old, new) for the ``pointers`` whose value differs between the configs."""
    out = {}
    for pointer in pointers:
        old = read_value(base, pointer)
        new = read_value(candidate, pointer)
        if old != new:
            out[pointer] = (old, new)
    return out


def config_distance(a: Any, b: Any, space: Mapping[str, Bound]) -> float:
    """Largest change of any search-space field between two configs, as a share of its range."""
    worst = 0.0
    for pointer, bound in space.items():
        x, y = read_value(a, pointer), read_value(b, pointer)
        if x is None or y is None or x == y:
            continue
        if not isinstance(x, int | float) or not isinstance(y, int | float):
            worst = max(worst, 1.0)
            continue
        worst = max(worst, abs(float(x) - float(y)) / (bound.width or 1.0))
    return worst
