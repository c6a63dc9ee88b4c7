"""One root exception, ``EvorecError``, and subclasses carrying structured fields.

Every failure an agent can cause (a bad delta, unsafe SQL, a diverging run) is one of
these, so loops can record it as an outcome with the error as feedback instead of
crashing. The CLI maps every ``EvorecError`` to exit code 2 with its message.

Each subclass is also the built-in exception it means: bad input (a configuration, a delta,
SQL, data, a constraint) is a ``ValueError``; a failure while running (simulation, training,
an artifact) is a ``RuntimeError``. Code that knows nothing of evorec handles them as usual,
and LangGraph's server, which shows the message only for built-in exception types like
these (any other exception reads "An internal error occurred"), passes the explanation on
to Studio and SDK clients.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArtifactError",
    "ConfigError",
    "ConstraintViolation",
    "DataError",
    "EvorecError",
    "InvalidDelta",
    "SimulationError",
    "TrainingDiverged",
    "UnsafeQuery",
]


class EvorecError(Exception):
    """Root of every error evorec raises on purpose."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for tool results, the journal and ``--json``)."""
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {"error": type(self).__name__, "message": str(self), **fields}


class ConfigError(EvorecError, ValueError):
    """A configuration (Φ, surface, fusion config, CLI option) is invalid."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class InvalidDelta(EvorecError, ValueError):
    """A delta (RFC 6902 JSON Patch) could not be applied, or its result is not a valid Φ.

    ``op_index`` is the failing operation's position in the patch (``None`` when the
    patch as a whole is malformed or the result fails validation), ``op`` its name,
    ``path`` the JSON Pointer it named and ``reason`` what went wrong.
    """

    def __init__(
        self,
        reason: str,
        *,
        op_index: int | None = None,
        op: str | None = None,
        path: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        where = []
        if op_index is not None:
            where.append(f"operation {op_index}")
        if op:
            where.append(f"'{op}'")
        if path is not None:
            where.append(f"at {path!r}")
        prefix = (" ".join(where) + ": ") if where else ""
        super().__init__(prefix + reason)
        self.reason = reason
        self.op_index = op_index
        self.op = op
        self.path = path
        self.errors = errors or []


class UnsafeQuery(EvorecError, ValueError):
    """SQL refused by the query guard; ``code`` is machine-readable, the message one line."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"[{code}] {reason}")
        self.code = code
        self.reason = reason


class DataError(EvorecError, ValueError):
    """Logged data is missing, malformed, or too small for what was asked."""


class SimulationError(EvorecError, RuntimeError):
    """The simulated platform was asked for something it cannot do."""


class TrainingDiverged(EvorecError, RuntimeError):
    """Training produced a non-finite loss; no model is written."""

    def __init__(self, message: str, *, step: int | None = None, loss: float | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.loss = loss


class ConstraintViolation(EvorecError, ValueError):
    """A configuration exceeds the system constraints G(Φ) ≤ C."""

    def __init__(self, message: str, *, name: str, value: float, limit: float) -> None:
        super().__init__(message)
        self.name = name
        self.value = value
        self.limit = limit


class ArtifactError(EvorecError, RuntimeError):
    """A model artifact is missing, incomplete, or fails its content-hash check."""
