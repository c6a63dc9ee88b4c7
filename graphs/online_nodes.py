"""Nodes of the online agent: PROPOSED → VALIDATED → TRAINING → LIVE → COMPLETED.

Every node is safe to run twice. A crash (even ``kill -9``) re-runs the interrupted node when
the thread resumes, so each side effect is keyed by the experiment id and checked before it is
repeated: the artifact directory is ``artifacts/<id>``, A/B state files are
``ab/<id>/day-<n>.npz``, the production registry's launch is idempotent by experiment id, and
journal transitions to the status an experiment already has are no-ops.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from evorec.delta import apply_delta, render_delta
from evorec.errors import ConfigError, EvorecError
from evorec.faults import crash_point
from evorec.graphs._context import context_from
from evorec.graphs.online_state import OnlineContext, OnlineState
from evorec.production import ProductionRegistry
from evorec.ranker.schema import load_phi, phi_hash

__all__ = [
    "abort",
    "approve",
    "complete",
    "decide_launch",
    "ensure_production",
    "live_day",
    "pick",
    "route_after_live",
    "route_after_pick",
    "route_after_train",
    "route_after_validate",
    "train_candidate",
    "validate",
]


_DATA_CACHE: dict[tuple[str, float], Any] = {}


# ----------------------------------------------------------------------------- helpers


def _ctx(runtime: Runtime[OnlineContext] | None) -> OnlineContext:
    return context_from(runtime, OnlineContext)


def _journal(ctx: OnlineContext):
    from evorec.journal import Journal

    return Journal(ctx.journal_path)


def _registry(ctx: OnlineContext) -> ProductionRegistry:
    return ProductionRegistry(ctx.registry_path)


def _data(ctx: OnlineContext):
    """Logged data, loaded once per process and file version."""
    from evorec.ranker import load_logged_data

    path = Path(ctx.data_path)
    if not path.exists():
        from evorec.errors import DataError

        raise DataError(f"logged data not found: {path} (run `evorec simulate` first)")
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_logged_data(path)
    return _DATA_CACHE[key]


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, allow_nan=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _finish(exp_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """State update that closes the experiment in flight."""
    return {
        "experiment_id": None,
        "phase": outcome["status"],
        "candidate_phi": None,
        "artifact": None,
        "ab_state": None,
        "ab_result": None,
        "day": 0,
        "live": None,
        "approved": None,
        "outcome": outcome,
        "completed": [exp_id],
    }


def _fail(ctx: OnlineContext, exp_id: str, phase: str, error: EvorecError) -> dict[str, Any]:
    from evorec.journal import Status

    message = f"{phase}: {type(error).__name__}: {error}"
    outcome = {
        "experiment_id": exp_id,
        "status": Status.FAILED.value,
        "phase": phase,
        "error": message,
    }
    journal = _journal(ctx)
    journal.set_online_result(exp_id, outcome)
    journal.transition(exp_id, Status.FAILED, error=message)
    return _finish(exp_id, outcome)


def _train_and_export(phi, ctx: OnlineContext, out_dir: Path) -> Path:
    """Train Φ on the logged data and export it to ``out_dir`` — or reuse a valid artifact there."""
    from evorec.ranker import export_artifact, load_artifact, train

    if out_dir.exists():  # a re-run after a crash: reuse the verified artifact
        for child in sorted(out_dir.iterdir()):
            if not child.is_dir() or child.name.startswith("."):
                continue
            try:
                if phi_hash(load_artifact(child).phi) == phi_hash(phi):
                    return child
            except EvorecError:
                continue  # half-written or foreign: ignored, training writes a new one
    result = train(phi, _data(ctx), max_steps=ctx.train_steps)
    return Path(export_artifact(result, phi, out_dir))


def _policy(artifact_path: str):
    from evorec.ranker import RankerPolicy, load_artifact

    return RankerPolicy(load_artifact(artifact_path))


# ------------------------------------------------------------------------------- nodes


def prepare(ctx: OnlineContext) -> None:
    """Check every setting, raising :class:`ConfigError` before anything is trained.

    The A/B settings are checked here, not first when an experiment goes LIVE, so a bad value
    never costs a training run or leaves a candidate half-way through its phases.
    """
    from evorec.graphs._context import check_int, check_number
    from evorec.simulator import Guardrail, get_surface

    get_surface(ctx.surface)
    check_int("users", ctx.users, 2)
    check_int("days", ctx.days, 1)
    check_number("traffic_fraction", ctx.traffic_fraction, 0, 1, open_low=True, open_high=True)
    if isinstance(ctx.seed, bool) or not isinstance(ctx.seed, int):
        raise ConfigError(f"seed must be an integer, not {ctx.seed!r}")
    check_int("train_steps", ctx.train_steps, 1, optional=True)
    check_int("min_impressions", ctx.min_impressions, 0)
    check_int("max_experiments", ctx.max_experiments, 1, optional=True)
    check_number("alpha", ctx.alpha, 0, 0.5, open_low=True, open_high=False)
    check_number("srm_injection", ctx.srm_injection, 0, 1, open_low=False, open_high=True)
    if not isinstance(ctx.approve_before_live, bool):
        raise ConfigError(
            f"approve_before_live must be true or false, not {ctx.approve_before_live!r}"
        )
    if not isinstance(ctx.guardrails, dict):
        raise ConfigError(
            f"guardrails must map a daily metric to its largest drop, not {ctx.guardrails!r}"
        )
    for metric, drop in ctx.guardrails.items():
        Guardrail(metric=metric, max_drop=drop)


def ensure_production(state: OnlineState, runtime: Runtime[OnlineContext]) -> dict[str, Any]:
    """Make sure production has a trained model to serve the control arm."""
    ctx = _ctx(runtime)
    prepare(ctx)
    registry = _registry(ctx)
    current = registry.initialise()
    if current.artifact and Path(current.artifact).exists():
        return {}
    phi = current.load_phi()
    out = ctx.artifacts_dir / f"production-v{current.version}-{current.phi_hash}"
    path = _train_and_export(phi, ctx, out)
    registry.set_artifact(current.version, path)
    return {}


def pick(state: OnlineState, runtime: Runtime[OnlineContext]) -> dict[str, Any]:
    """PROPOSED: take the head of the FIFO queue (or keep the experiment in flight)."""
    ctx = _ctx(runtime)
    if state.get("experiment_id"):
        return {}
    done = len(state.get("completed") or [])
    if ctx.max_experiments is not None and done >= ctx.max_experiments:
        return {"experiment_id": None}
    record = _journal(ctx).next_in_queue()
    if record is None:
        return {"experiment_id": None}
    return {
        "experiment_id": record.id,
        "phase": record.status.value,
        "candidate_phi": None,
        "artifact": None,
        "ab_state": None,
        "ab_result": None,
        "day": 0,
        "live": None,
        "approved": None,
        "outcome": None,
    }


def validate(state: OnlineState, runtime: Runtime[OnlineContext]) -> dict[str, Any]:
    """VALIDATED: fail fast before spending training."""
    from evorec.journal import Status
    from evorec.ranker import check_constraints

    ctx = _ctx(runtime)
    exp_id = state["experiment_id"]
    journal = _journal(ctx)
    record = journal.get(exp_id)
    production = _registry(ctx).current()
    try:
        base = production.load_phi()
        candidate = apply_delta(base, record.delta)
        if phi_hash(candidate) == production.phi_hash:
            from evorec.errors import InvalidDelta

            raise InvalidDelta("the delta does not change production Φ (identical candidate)")
        data = _data(ctx)
        if data.num_impressions < ctx.min_impressions:
            from evorec.errors import DataError

            raise DataError(
                f"only {data.num_impressions} logged impressions; at least "
                f"{ctx.min_impressions} are needed to train a candidate"
            )
        report = check_constraints(candidate, data.spec)
    except EvorecError as exc:
        return _fail(ctx, exp_id, "validated", exc)
    journal.transition(
        exp_id,
        Status.VALIDATED,
        note=f"constraints ok: {json.dumps(report, default=str)}",
    )
    return {
        "phase": Status.VALIDATED.value,
        "candidate_phi": candidate.to_json(),
        "control_phi_hash": production.phi_hash,
        "control_artifact": production.artifact,
    }


def train_candidate(state: OnlineState, runtime: Runtime[OnlineContext]) -> dict[str, Any]:
    """TRAINING: full-budget training, export, re-load and verify the artifact's hash."""
    from evorec.journal import Status
    from evorec.ranker import load_artifact

    ctx = _ctx(runtime)
    exp_id = state["experiment_id"]
    journal = _journal(ctx)
    journal.transition(exp_id, Status.TRAINING)
    candidate = load_phi(state["candidate_phi"])
    try:
        path = _train_and_export(candidate, ctx, ctx.artifacts_dir / exp_id)
        crash_point("after_export")
        load_artifact(path)  # verifies the content hash
    except EvorecError as exc:
        return _fail(ctx, exp_id, "training", exc)
    journal.transition(exp_id, Status.TRAINED, note=f"artifact {path}")
    return {"phase": Status.TRAINED.value, "artifact": str(path)}


def approve(state: OnlineState, runtime: Runtime[OnlineContext]) -> dict[str, Any]:
    """Optional human approval before LIVE (an interrupt; resume with approve/reject)."""
    ctx = _ctx(runtime)
    if not ctx.approve_before_live:
        return {"approved": None}
    exp_id = state["experiment_id"]
    record = _journal(ctx).get(exp_id)
    answer = interrupt(
        {
            "experiment_id": exp_id,
            "question": "Approve this candidate for a live A/B test?",
            "hypothesis": record.hypothesis,
            "delta": render_delta(record.delta),
            "artifact": state.get("artifact"),
            "answer_with": "approve | reject",
        }
    )
    approved = answer is True or (
        isinstance(answer, str) and answer.lower() in ("approve", "yes", "y")
    )
    if isinstance(answer, dict):
        approved = bool(answer.get("approve"))
    if approved:
        return {"approved": True}
    from evorec.journal import Status

    outcome = {
        "experiment_id": exp_id,
        "status": Status.ABORTED.value,
        "phase": "approval",
        "reason": f"rejected by a reviewer before LIVE ({answer!r})",
    }
    journal = _journal(ctx)
    journal.set_online_result(exp_id, outcome)
    journal.transition(exp_id, Status.ABORTED, error=outcome["reason"])
    return {**_finish(exp_id, outcome), "approved": False}


def _ab_path(ctx: OnlineContext, exp_id: str, day: int) -> Path:
    return ctx.ab_dir / exp_id / f"day-{day:03d}.npz"


#: The experiment in flight in this process, keyed by (experiment id, days completed), so
#: consecutive LIVE days reuse the simulated world; after a crash it is rebuilt from file.
_LIVE: dict[tuple[str, int], Any] = {}


def _experiment(state: OnlineState, ctx: OnlineContext):
    """The experiment's A/B at the last completed day (fresh at day 0)."""
    from evorec.simulator import ABExperiment, Guardrail, get_surface

    exp_id, day = state["experiment_id"], state.get("day") or 0
    cached = _LIVE.pop((exp_id, day), None)
    if cached is not None:
        return cached
    _LIVE.clear()
    control = _policy(state["control_artifact"])
    treatment = _policy(state["artifact"])
    if state.get("ab_state"):
        return ABExperiment.restore(state["ab_state"], control, treatment)
    record = _journal(ctx).get(exp_id)
    return ABExperiment(
        control,
        treatment,
        get_surface(ctx.surface),
        ctx.users,
        ctx.days,
        ctx.traffic_fraction,
        ctx.seed,
        [Guardrail(metric=m, max_drop=d) for m, d in ctx.guardrails.items()],
        salt=ab_salt(record.surface, record.parent_phi_hash, record.delta),
        srm_injection=ctx.srm_injection,
    )


def ab_salt(surface: str, parent_phi_hash: str, delta: list[dict[str, Any]]) -> str:
    """The A/B assignment salt of an experiment: a digest of what it tests.

    Derived from the surface, the Φ the delta was written against and the delta itself, not
    from the experiment id (whose suffix is random), so the same journal history with the same
    seed splits users the same way on every machine, while different candidates get
    independent splits.
    """
    content = json.dumps([surface, parent_phi_hash, delta], sort_keys=True, separators=(",", ":"))
    return "exp-" + hashlib.blake2b(content.encode(), digest_size=8).hexdigest()


def live_day(state: OnlineState, runtime: Runtime[OnlineContext]) -> dict[str, Any]:
    """LIVE: one simulated day of the A/B test; its state is checkpointed after each day."""
    from evorec.journal import Status

    ctx = _ctx(runtime)
    exp_id = state["experiment_id"]
    day = state.get("day") or 0
    if day == 0:
        _journal(ctx).transition(exp_id, Status.LIVE, note=f"A/B on {ctx.surface}")
    experiment = _experiment(state, ctx)
    experiment.run_day()
    crash_point("live_day")
    path = experiment.save(_ab_path(ctx, exp_id, day + 1))
    update: dict[str, Any] = {
        "phase": Status.LIVE.value,
        "day": day + 1,
        "ab_state": str(path),
        "ab_result": None,
    }
    if experiment.done:
        update["live"] = "aborted" if experiment.aborted else "done"
        update["ab_result"] = experiment.result().to_dict()
    else:
        update["live"] = "running"
        _LIVE[(exp_id, day + 1)] = experiment
    return update


def decide_launch(result: dict[str, Any], alpha: float = 0.05) -> dict[str, Any]:
    """The launch rule (documented in the README).

    Launch only if (1) the experiment is valid (no sample-ratio mismatch: SRM p ≥ 0.001),
    (2) it ran to its horizon with no guardrail breach, (3) the north star improved
    significantly (p < α and the lower end of the lift's 95% CI above zero). The other
    horizon metrics (time spent, satisfaction, clicks) are recorded with the outcome but do
    not decide: in this world, as on real platforms, clickbait raises time spent while it
    drives users away, and the daily guardrails already bound what may be lost.
    """
    from evorec.simulator import NORTH_STAR

    metrics = result.get("metrics") or {}
    reasons = []
    if not result.get("valid", False):
        p = result.get("srm", {}).get("p_value")
        reasons.append(f"invalid experiment: sample-ratio mismatch (SRM p = {p:.3g})")
    if result.get("aborted"):
        reasons.append(f"aborted: {result.get('abort_reason')}")
    primary = metrics.get(NORTH_STAR)
    if primary is not None and any(
        primary.get(k) is None for k in ("rel_lift", "ci_low", "p_value")
    ):
        primary = None  # undefined (an arm too small, or a zero control mean)
    if not result.get("complete") or primary is None:
        reasons.append(f"no {NORTH_STAR} read-out (the experiment did not reach its horizon)")
    else:
        if not (primary["p_value"] < alpha and primary["ci_low"] > 0):
            reasons.append(
                f"{NORTH_STAR} not significantly better (lift {primary['rel_lift']:+.2%}, "
                f"95% CI [{primary['ci_low']:+.2%}, {primary['ci_high']:+.2%}], "
                f"p = {primary['p_value']:.3g})"
            )
    launch = not reasons
    if launch:
        summary = (
            f"launch: {NORTH_STAR} {primary['rel_lift']:+.2%} (95% CI [{primary['ci_low']:+.2%}, "
            f"{primary['ci_high']:+.2%}], p = {primary['p_value']:.3g})"
        )
    else:
        summary = "no launch: " + "; ".join(reasons)
    return {"launch": launch, "reasons": reasons, "summary": summary}


def _outcome(
    state: OnlineState, result: dict[str, Any], decision: dict[str, Any], status: str
) -> dict[str, Any]:
    ab = {k: v for k, v in result.items() if k != "daily"}  # the read-out, not every day
    return {
        "experiment_id": state["experiment_id"],
        "status": status,
        "decision": decision,
        "ab": ab,
        "days": state.get("day"),
        "artifact": state.get("artifact"),
        "control_phi_hash": state.get("control_phi_hash"),
    }


def complete(state: OnlineState, runtime: Runtime[OnlineContext]) -> dict[str, Any]:
    """COMPLETED: read the north star after its delay, decide, launch or not, journal it."""
    from evorec.journal import Status

    ctx = _ctx(runtime)
    exp_id = state["experiment_id"]
    result = state["ab_result"]
    decision = decide_launch(result, ctx.alpha)
    status = Status.LAUNCHED if decision["launch"] else Status.NOT_LAUNCHED
    outcome = _outcome(state, result, decision, status.value)
    journal = _journal(ctx)
    journal.set_online_result(exp_id, outcome)
    if decision["launch"]:
        _registry(ctx).launch(
            load_phi(state["candidate_phi"]), state["artifact"], exp_id, note=decision["summary"]
        )
    journal.transition(exp_id, status, note=decision["summary"])
    return _finish(exp_id, outcome)


def abort(state: OnlineState, runtime: Runtime[OnlineContext]) -> dict[str, Any]:
    """LIVE → aborted: a guardrail was breached; the candidate never reaches production."""
    from evorec.journal import Status

    ctx = _ctx(runtime)
    exp_id = state["experiment_id"]
    result = state["ab_result"]
    decision = {"launch": False, "reasons": [f"guardrail breach: {result.get('abort_reason')}"]}
    decision["summary"] = "aborted: " + decision["reasons"][0]
    outcome = _outcome(state, result, decision, Status.ABORTED.value)
    journal = _journal(ctx)
    journal.set_online_result(exp_id, outcome)
    journal.transition(exp_id, Status.ABORTED, error=decision["summary"])
    return _finish(exp_id, outcome)


# ----------------------------------------------------------------------------- routers


def route_after_pick(state: OnlineState) -> Literal["validate", "__end__"]:
    return "validate" if state.get("experiment_id") else END


def route_after_validate(state: OnlineState) -> Literal["train", "pick"]:
    from evorec.journal import Status

    phase = state.get("phase")
    if phase == Status.VALIDATED.value:
        return "train"
    if state.get("experiment_id") is None:
        return "pick"
    raise ValueError(f"unexpected phase after VALIDATED: {phase!r}")


def route_after_train(state: OnlineState) -> Literal["approve", "pick"]:
    from evorec.journal import Status

    phase = state.get("phase")
    if phase == Status.TRAINED.value:
        return "approve"
    if state.get("experiment_id") is None:
        return "pick"
    raise ValueError(f"unexpected phase after TRAINING: {phase!r}")


def route_after_approve(state: OnlineState) -> Literal["live_day", "pick"]:
    if state.get("experiment_id") is None:
        return "pick"
    return "live_day"


def route_after_live(state: OnlineState) -> Literal["live_day", "complete", "abort"]:
    live = state.get("live")
    if live == "running":
        return "live_day"
    if live == "done":
        return "complete"
    if live == "aborted":
        return "abort"
    raise ValueError(f"unexpected LIVE status: {live!r}")
