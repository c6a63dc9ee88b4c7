"""The production registry: which Φ and which trained model serve now, and how they got there.

A small JSON file, written atomically (temporary file, fsync, rename) under an exclusive file
lock, so a killed process leaves either the old or the new state and never a torn one.
Launches are idempotent by experiment id: re-running the launch of an experiment that already
launched (after a crash between the launch and the journal write, say) changes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evorec.errors import ConfigError
from evorec.ranker.schema import Phi, baseline_phi, load_phi, phi_hash

__all__ = ["ProductionRecord", "ProductionRegistry"]


class ProductionRecord(BaseModel):
    """One production version."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="0 for the shipped baseline, +1 per launch.")
    phi: dict[str, Any] = Field(description="Φ serving in production (JSON form).")
    phi_hash: str = Field(description="Content hash of phi.")
    artifact: str | None = Field(default=None, description="Trained model artifact directory.")
    experiment_id: str | None = Field(default=None, description="Experiment that launched it.")
    since: str = Field(description="When it became production (UTC, ISO 8601).")
    note: str = Field(default="", description="Free text (e.g. the north-star lift).")

    def load_phi(self) -> Phi:
        return load_phi(self.phi)


class ProductionRegistry:
    """Current production Φ/model plus the full launch history, in one JSON file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    # ------------------------------------------------------------------ reading
    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"history": []}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"production registry {self.path} is corrupt: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("history"), list):
            raise ConfigError(f"production registry {self.path} has no 'history' list")
        return data

    def history(self) -> list[ProductionRecord]:
        """Every production version, oldest first (the baseline first)."""
        records = [ProductionRecord.model_validate(r) for r in self._read()["history"]]
        return records or [self._baseline_record()]

    def current(self) -> ProductionRecord:
        """What serves now: the last launch, or the shipped baseline."""
        return self.history()[-1]

    def current_phi(self) -> Phi:
        return self.current().load_phi()

    # ------------------------------------------------------------------ writing
    def initialise(
        self, phi: Phi | None = None, artifact: str | Path | None = None
    ) -> ProductionRecord:
        """Set version 0 (the starting production) if the registry is empty; else no change."""
        with self._locked():
            data = self._read()
            if data["history"]:
                return ProductionRecord.model_validate(data["history"][-1])
            record = self._baseline_record(phi, artifact)
            self._write({"history": [record.model_dump()]})
            return record

    def set_artifact(self, version: int, artifact: str | Path) -> ProductionRecord:
        """Attach a trained artifact to an existing version (e.g. the baseline once trained)."""
        with self._locked():
            data = self._read()
            history = data["history"] or [self._baseline_record().model_dump()]
            for rec in history:
                if rec["version"] == version:
                    rec["artifact"] = str(artifact)
                    self._write({"history": history})
                    return ProductionRecord.model_validate(rec)
        raise ConfigError(f"no production version {version} in {self.path}")

    def launch(
        self, phi: Phi, artifact: str | Path | None, experiment_id: str, note: str = ""
    ) -> ProductionRecord:
        """Make ``phi`` production. Idempotent: a second launch of the same experiment is a no-op."""
        with self._locked():
            data = self._read()
            history = data["history"] or [self._baseline_record().model_dump()]
            for rec in history:
                if rec.get("experiment_id") == experiment_id:
                    return ProductionRecord.model_validate(rec)
            record = ProductionRecord(
                version=history[-1]["version"] + 1,
                phi=phi.to_json(),
                phi_hash=phi_hash(phi),
                artifact=str(artifact) if artifact is not None else None,
                experiment_id=experiment_id,
                since=_now(),
                note=note,
            )
            history.append(record.model_dump())
            self._write({"history": history})
            return record

    # ---------------------------------------------------------------- internals
    def _baseline_record(
        self, phi: Phi | None = None, artifact: str | Path | None = None
    ) -> ProductionRecord:
        phi = phi or baseline_phi()
        return ProductionRecord(
            version=0,
            phi=phi.to_json(),
            phi_hash=phi_hash(phi),
            artifact=str(artifact) if artifact is not None else None,
            since=_now(),
            note="starting production",
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, allow_nan=False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
