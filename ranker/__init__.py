"""The ranker: Φ (the meta-configuration schema) and the PyTorch model built from it."""

from evorec.ranker.schema import (
    PRODUCTION_BASELINE,
    Phi,
    baseline_phi,
    describe_fields,
    load_phi,
    phi_hash,
)

__all__ = ["PRODUCTION_BASELINE", "Phi", "baseline_phi", "describe_fields", "load_phi", "phi_hash"]
