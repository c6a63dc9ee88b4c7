"""The online queue from outside the graph: human submissions and a status report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evorec.delta import apply_delta, parse_patch
from evorec.production import ProductionRegistry

__all__ = ["propose_candidate", "status_report"]


def propose_candidate(
    journal_path: str | Path,
    delta: Any,
    hypothesis: str,
    *,
    surface: str,
    workdir: str | Path,
    author: str = "human",
) -> dict[str, Any]:
    """Queue a delta against the current production Φ (PROPOSED, FIFO).

    The delta is applied and validated first: an invalid one raises
    :class:`~evorec.errors.InvalidDelta` and nothing is queued.
    """
    from evorec.errors import ConfigError
    from evorec.journal import Journal, Status
    from evorec.simulator.surfaces import get_surface

    if not isinstance(hypothesis, str) or not hypothesis.strip():
        raise ConfigError("a hypothesis is required: say why the change should help")
    get_surface(surface)
    ops = parse_patch(delta)
    production = ProductionRegistry(Path(workdir) / "production.json").initialise()
    apply_delta(production.load_phi(), ops)  # raises InvalidDelta, nothing queued
    record = Journal(journal_path).create(
        surface=get_surface(surface).name,
        author=author,
        parent_phi_hash=production.phi_hash,
        delta=ops,
        hypothesis=hypothesis.strip(),
        status=Status.PROPOSED,
    )
    return record.to_dict()


def status_report(journal_path: str | Path, workdir: str | Path) -> dict[str, Any]:
    """The queue, every online experiment's phase and outcome, and what serves in production."""
    from evorec.journal import Journal, Status

    journal = Journal(journal_path)
    production = ProductionRegistry(Path(workdir) / "production.json").initialise()
    online = {
        Status.PROPOSED,
        Status.VALIDATED,
        Status.TRAINING,
        Status.TRAINED,
        Status.LIVE,
        Status.ABORTED,
        Status.LAUNCHED,
        Status.NOT_LAUNCHED,
        Status.FAILED,
    }
    rows = []
    for record in journal.records():
        if record.status not in online:
            continue
        result = record.online_result or {}
        summary = (result.get("decision") or {}).get("summary") or record.error or ""
        rows.append(
            {
                "id": record.id,
                "status": record.status.value,
                "author": record.author,
                "hypothesis": record.hypothesis,
                "summary": summary,
            }
        )
    return {
        "production": {
            "version": production.version,
            "phi_hash": production.phi_hash,
            "artifact": production.artifact,
            "note": production.note,
        },
        "queue": [r.id for r in journal.queue()],
        "experiments": rows,
    }
