"""Run-time settings of a graph, from LangGraph's ``Runtime`` (shared by every graph)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from evorec.errors import ConfigError

__all__ = ["check_int", "check_number", "context_from"]

C = TypeVar("C")


def context_from(runtime: Any, cls: type[C]) -> C:
    """``runtime.context`` as a ``cls`` dataclass.

    A ``cls`` instance is used as is; a dict (what LangGraph's server passes, from JSON)
    becomes one — JSON lists become tuples where the field's default is a tuple, and an
    unknown key is a :class:`ConfigError` naming it; nothing given means the defaults
    (explicit value, then ``EVOREC_*`` environment variable, then default).
    """
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, cls):
        return ctx
    if ctx is None:
        return cls()
    if not isinstance(ctx, dict):
        raise ConfigError(f"expected a {cls.__name__} or a dict of its fields, got {ctx!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(ctx) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} settings: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(fields))})"
        )
    values = {}
    for key, value in ctx.items():
        default = fields[key].default
        if isinstance(value, list) and isinstance(default, tuple):
            value = tuple(value)
        values[key] = value
    return cls(**values)


def check_int(name: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    """A :class:`ConfigError` unless ``value`` is an integer ≥ ``minimum`` (or None if
    ``optional``); booleans and numeric strings are not integers here."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        extra = " or null" if optional else ""
        raise ConfigError(f"{name} must be {what}{extra}, not {value!r}")


def check_number(
    name: str, value: Any, low: float, high: float, *, open_low: bool, open_high: bool
) -> None:
    """A :class:`ConfigError` unless ``value`` is a finite number inside the interval between
    ``low`` and ``high`` (each end open or closed as asked)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        ok = (value > low if open_low else value >= low) and (
            value < high if open_high else value <= high
        )
    if not ok:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        raise ConfigError(f"{name} must be a number in {interval}, not {value!r}")
