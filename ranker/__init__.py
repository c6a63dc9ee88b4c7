"""The ranker: Φ (the meta-configuration schema) and the PyTorch model built from it.

Torch-backed names (``compute_loss``, ``RankerPolicy``, ``export_artifact``, ...) are
imported on first use, so ``import evorec.ranker`` for Φ alone stays cheap. The training
function is ``evorec.ranker.training.train`` (not re-exported: ``evorec.ranker.training`` is
the module's name).
"""

from __future__ import annotations

import importlib
from typing import Any

from evorec.ranker.schema import (
    PRODUCTION_BASELINE,
    Phi,
    baseline_phi,
    describe_fields,
    load_phi,
    phi_hash,
)

_LAZY = {
    "DataSpec": "evorec.ranker.data",
    "LoggedData": "evorec.ranker.data",
    "load_logged_data": "evorec.ranker.data",
    "Ranker": "evorec.ranker.model",
    "build_model": "evorec.ranker.model",
    "count_params": "evorec.ranker.model",
    "TrainResult": "evorec.ranker.training",
    "compose_label": "evorec.ranker.training",
    "train": "evorec.ranker.training",
    "Artifact": "evorec.ranker.artifact",
    "export_artifact": "evorec.ranker.artifact",
    "load_artifact": "evorec.ranker.artifact",
    "ProxyResult": "evorec.ranker.proxy",
    "compute_loss": "evorec.ranker.proxy",
    "RankerPolicy": "evorec.ranker.serving",
    "check_constraints": "evorec.ranker.serving",
}

__all__ = [
    "PRODUCTION_BASELINE",
    "Phi",
    "baseline_phi",
    "describe_fields",
    "load_phi",
    "phi_hash",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'evorec.ranker' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
