"""Versioned model artifacts: written whole or not at all, verified when loaded.

An artifact is a directory::

    weights.pt      torch.save of the state dict (CPU tensors only; loads with weights_only=True)
    phi.json        the Φ it was built from
    metrics.json    training metrics
    manifest.json   format, version, data spec, file hashes and the content hash

``content_hash`` = SHA-256 over ``weights.pt``'s bytes, ``phi.json``'s bytes and the data
spec (sorted-key JSON), each separated by a NUL byte. It is written into a temporary
directory beside the target, fsynced, and moved into place with one ``os.replace``: a crash
leaves either no artifact or a whole one (plus, at worst, a hidden ``.*.tmp-*`` directory
that loaders never look at).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from evorec.errors import ArtifactError, ConfigError
from evorec.ranker.data import DataSpec
from evorec.ranker.model import Ranker, build_model
from evorec.ranker.schema import Phi, load_phi, phi_hash

if TYPE_CHECKING:
    from evorec.ranker.training import TrainResult

__all__ = ["ARTIFACT_FORMAT", "Artifact", "export_artifact", "load_artifact"]

ARTIFACT_FORMAT = "evorec-ranker/1"
_FILES = ("weights.pt", "phi.json", "metrics.json", "manifest.json")


@dataclass
class Artifact:
    """A loaded, verified artifact."""

    path: Path
    phi: Phi
    model: Ranker
    """The network, eval mode, on the requested device (CPU by default)."""
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    hash: str
    """The verified content hash."""

    @property
    def spec(self) -> DataSpec:
        return DataSpec(**self.manifest["spec"])


def _content_hash(weights: bytes, phi_json: bytes, spec: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for part in (weights, phi_json, json.dumps(spec, sort_keys=True).encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()


def _phi_bytes(phi: Phi) -> bytes:
    return json.dumps(phi.to_json(), sort_keys=True, indent=2).encode()


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def export_artifact(
    result: TrainResult,
    phi: Phi | None = None,
    out_dir: str | Path = ".",
    *,
    version: str | None = None,
) -> Path:
    """Write ``result`` as ``out_dir/<version>`` and return that path.

    ``version`` defaults to ``<phi hash>-<first 8 digits of the content hash>``. Exporting
    the same content twice returns the existing artifact; a different artifact already at
    that name is an ``ArtifactError``.
    """
    import io

    phi = phi or result.phi
    out = Path(out_dir)
    if version is not None and (not version or "/" in version or version.startswith(".")):
        raise ConfigError(f"invalid artifact version name {version!r}")
    state = {k: v.detach().to("cpu").clone() for k, v in result.model.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    weights = buf.getvalue()
    phi_json = _phi_bytes(phi)
    spec = result.spec.to_dict()
    content = _content_hash(weights, phi_json, spec)
    version = version or f"{phi_hash(phi)}-{content[:8]}"
    target = out / version
    manifest = {
        "format": ARTIFACT_FORMAT,
        "version": version,
        "phi_hash": phi_hash(phi),
        "content_hash": content,
        "spec": spec,
        "files": {
            "weights.pt": hashlib.sha256(weights).hexdigest(),
            "phi.json": hashlib.sha256(phi_json).hexdigest(),
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
    }
    if target.exists():
        return _existing(target, content)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=out))
    try:
        _write(tmp / "weights.pt", weights)
        _write(tmp / "phi.json", phi_json)
        _write(tmp / "metrics.json", json.dumps(result.metrics, indent=2, default=str).encode())
        _write(tmp / "manifest.json", json.dumps(manifest, indent=2).encode())
        try:
            os.replace(tmp, target)
        except OSError:
            if target.exists():  # a concurrent export won the race
                return _existing(target, content)
            raise
        dir_fd = os.open(out, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _existing(target: Path, content: str) -> Path:
    try:
        other = json.loads((target / "manifest.json").read_text())["content_hash"]
    except (OSError, ValueError, KeyError):
        other = None
    if other != content:
        raise ArtifactError(f"{target} already holds a different artifact; choose another version")
    return target


def load_artifact(path: str | Path, *, device: str | torch.device = "cpu") -> Artifact:
    """Load and verify an artifact; ``ArtifactError`` for a missing file or hash mismatch."""
    p = Path(path)
    if not p.is_dir():
        raise ArtifactError(f"artifact not found: {p}")
    missing = [f for f in _FILES if not (p / f).is_file()]
    if missing:
        raise ArtifactError(f"artifact {p} is incomplete: missing {', '.join(missing)}")
    try:
        manifest = json.loads((p / "manifest.json").read_text())
        metrics = json.loads((p / "metrics.json").read_text())
        spec_dict = manifest["spec"]
        expected = manifest["content_hash"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"artifact {p} has an unreadable manifest or metrics: {exc}") from None
    if manifest.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(
            f"artifact {p} has format {manifest.get('format')!r}, not {ARTIFACT_FORMAT}"
        )
    weights = (p / "weights.pt").read_bytes()
    phi_json = (p / "phi.json").read_bytes()
    actual = _content_hash(weights, phi_json, spec_dict)
    if actual != expected:
        raise ArtifactError(
            f"artifact {p} fails its content-hash check (manifest {expected[:12]}…, "
            f"files {actual[:12]}…): it was modified or corrupted"
        )
    try:
        phi = load_phi(phi_json.decode())
        spec = DataSpec(**spec_dict)
    except (ConfigError, TypeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"artifact {p}: invalid phi.json or spec: {exc}") from None
    import io

    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        model = build_model(phi, spec)
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # unpickling / shape errors all mean a broken artifact
        raise ArtifactError(f"artifact {p}: weights do not load: {exc}") from None
    model = model.to(device).eval()
    return Artifact(path=p, phi=phi, model=model, manifest=manifest, metrics=metrics, hash=actual)
