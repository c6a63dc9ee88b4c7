"""Named crash points for durability tests (kill -9 in the middle of a phase).

Long-running steps call :func:`crash_point` at the moments a real crash would hurt most
(after an artifact is written but before the checkpoint, in the middle of a live A/B). When
the environment variable ``EVOREC_CRASH_AT`` names that point, the process kills itself with
SIGKILL — no cleanup, no ``finally``, exactly like ``kill -9``. Unset, it does nothing.

``EVOREC_CRASH_AT=live_day:3`` crashes at the point ``live_day`` on its third visit; a marker
file (``EVOREC_CRASH_MARKER``, if set) records that the crash happened, so a restarted process
with the same environment does not crash again.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

__all__ = ["crash_point"]

_visits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process if ``EVOREC_CRASH_AT`` names this point (and visit count)."""
    spec = os.environ.get("EVOREC_CRASH_AT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _visits[name] = _visits.get(name, 0) + 1
    if nth and _visits[name] != int(nth):
        return
    marker = os.environ.get("EVOREC_CRASH_MARKER")
    if marker:
        path = Path(marker)
        if path.exists():
            return
        path.write_text(spec)
    os.kill(os.getpid(), signal.SIGKILL)
