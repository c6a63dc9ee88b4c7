"""Run-time settings of a graph, from LangGraph's ``Runtime`` (shared by every graph)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from evorec.errors import ConfigError

__all__ = ["context_from"]

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
