"""Quiet, lazy imports of TensorFlow and RecSim NG.

On a machine without a GPU, TensorFlow's C++ runtime (and JAX, which RecSim NG pulls in)
log CUDA probing and oneDNN notices straight to file descriptor 2 before any logging
configuration can take effect, and gym (a RecSim NG dependency) prints an
unmaintained-package notice on import. None of it says anything about the run, and it
buries evorec's own messages, so the first import runs with fd 2 pointed at /dev/null.
Python exceptions are unaffected; set ``EVOREC_TF_VERBOSE=1`` to see everything.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["import_recsim", "import_tf", "quiet_stderr"]


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence fd 2 (C++ and Python writers alike) for the duration of the block."""
    if os.environ.get("EVOREC_TF_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with contextlib.redirect_stderr(open(os.devnull, "w")):  # noqa: SIM115
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tf() -> Any:
    """``import tensorflow``, quietly the first time."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_stderr():
            import tensorflow  # noqa: F401
    import tensorflow as tf

    return tf


def import_recsim() -> None:
    """Import TensorFlow and RecSim NG (and gym, JAX under it), quietly the first time."""
    import_tf()
    if "recsim_ng.core.network" not in sys.modules:
        with quiet_stderr():
            import recsim_ng.applications.recsys_partially_observable_rl.user  # noqa: F401
            import recsim_ng.core.network  # noqa: F401
            import recsim_ng.lib.tensorflow.runtime  # noqa: F401
            import tensorflow as tf

            tf.config.list_physical_devices()  # CUDA probing happens here, once
