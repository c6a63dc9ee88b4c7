"""Nodes of the offline agent: think → code → verify → tool → judge → journal → promote.

One iteration turns one proposal into one journal record:

* ``think`` picks the iteration's persona, reads production Φ and asks the proposer for a
  hypothesis (a chat model answers a hypothesis alone; the built-in, random and Optuna
  back-ends answer hypothesis and delta in one call, the delta waiting for ``code``);
* ``code`` turns the hypothesis into a delta (a chat model's structured output), or repairs
  the last one after seeing its own error;
* ``verify`` applies the delta to production Φ, validates it, runs the Linter (the rule set,
  optionally also a chat model as the Linter persona) and, for the compute_loss personas,
  checks Φ's parameter limit; an error goes back to ``code`` at most ``max_repairs`` times,
  then the proposal is journaled as REJECTED;
* ``tool`` measures the candidate: ``compute_loss`` (the ranker proxy) for the Optimizer and
  Architecture personas, ``label_correlation`` (guarded SQL) for the Reward persona — a new
  label moves the loss landscape, so compute_loss cannot rank it, and it is never called;
* ``judge`` decides whether the candidate is significantly better than production;
* ``journal`` writes the record (DRAFT → PROXY_BETTER | PROXY_WORSE | REJECTED | FAILED);
* ``promote`` queues a winner for the online loop (PROXY_BETTER → PROPOSED).

Proposer objects (a chat model, an Optuna study) are not serialisable, so they live in a
module-level cache keyed by thread and settings and are rebuilt after a resume. Every node is
safe to run twice: the journal id of an iteration is reserved in ``think`` and checkpointed,
and the journal node skips writes the record already has.
"""

from __future__ import annotations

import random
import secrets
import threading
from pathlib import Path
from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from evorec.errors import ConfigError, DataError, EvorecError
from evorec.faults import crash_point
from evorec.graphs._context import context_from
from evorec.graphs.offline_state import PERSONA_CHOICES, OfflineContext, OfflineState
from evorec.proposers import PatchOperation

__all__ = [
    "DeltaModel",
    "HypothesisModel",
    "LintAnswer",
    "code",
    "get_proposer",
    "journal",
    "judge",
    "label_sql",
    "persona_for",
    "prepare",
    "promote",
    "route_after_code",
    "route_after_journal",
    "route_after_promote",
    "route_after_setup",
    "route_after_think",
    "route_after_tool",
    "route_after_verify",
    "setup",
    "think",
    "tool",
    "verify",
]

#: Personas whose proposals the ranker proxy judges (the Reward persona's go through SQL).
_PROXY_PERSONAS = ("optimizer", "architecture")
_ROTATION = ("optimizer", "architecture", "reward")

_PROPOSERS: dict[tuple[Any, ...], Any] = {}
_PROPOSERS_LOCK = threading.Lock()


# ------------------------------------------------------------------ structured answers


class HypothesisModel(BaseModel):
    """A chat model's think step: the hypothesis alone."""

    model_config = ConfigDict(extra="forbid")

    hypothesis: str = Field(
        description="What you will change in your section of Φ, why it should improve the "
        "proxy (and the north star), and what result would refute it."
    )


class DeltaModel(BaseModel):
    """A chat model's code step: the delta that tests the hypothesis."""

    model_config = ConfigDict(extra="forbid")

    delta: list[PatchOperation] = Field(
        description="RFC 6902 JSON Patch against the baseline Φ (value as JSON text)."
    )


class LintAnswer(BaseModel):
    """A chat model's answer as the Linter persona."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = Field(description="True when none of the linter's rules is broken.")
    problems: list[str] = Field(default_factory=list, description="One line per broken rule.")


# ----------------------------------------------------------------------------- helpers


def _ctx(runtime: Runtime[OfflineContext] | None) -> OfflineContext:
    return context_from(runtime, OfflineContext)


def _thread_id() -> str:
    try:
        from langgraph.config import get_config

        return str(get_config().get("configurable", {}).get("thread_id") or "default")
    except RuntimeError:  # called outside a graph run
        return "default"


def _journal(ctx: OfflineContext):
    from evorec.journal import Journal

    return Journal(ctx.journal_path)


def persona_for(ctx: OfflineContext, iteration: int) -> str:
    """The persona of iteration ``iteration`` (``all`` rotates optimizer → architecture → reward)."""
    name = str(ctx.persona).strip().lower()
    if name == "all":
        return _ROTATION[iteration % len(_ROTATION)]
    if name not in _ROTATION:
        raise ConfigError(
            f"unknown persona {ctx.persona!r} (expected one of {', '.join(PERSONA_CHOICES)})"
        )
    return name


def _proposer_key(ctx: OfflineContext, thread_id: str) -> tuple[Any, ...]:
    return (thread_id, ctx.model, ctx.seed, ctx.history_mode, ctx.steering)


def get_proposer(ctx: OfflineContext, *, thread_id: str | None = None, iteration: int = 0) -> Any:
    """The proposer for this thread: ``ctx.proposer`` if given, else one built from
    ``ctx.model`` (cached per thread and settings; rebuilt after a resume in a new process)."""
    if ctx.proposer is not None:
        return ctx.proposer
    from evorec.llm import load_proposer

    key = _proposer_key(ctx, thread_id or _thread_id())
    with _PROPOSERS_LOCK:
        proposer = _PROPOSERS.get(key)
        if proposer is None:
            # A proposer rebuilt in the middle of a thread gets a fresh seed, so seeded
            # back-ends (random search) do not replay the proposals already journaled.
            proposer = load_proposer(
                ctx.model,
                seed=ctx.seed + 1_000 * iteration,
                history_mode=ctx.history_mode,
                steering=ctx.steering,
                guardrails=ctx.guardrails,
            )
            _PROPOSERS[key] = proposer
    return proposer


def _is_llm(proposer: Any) -> bool:
    from evorec.proposers import LLMProposer

    return isinstance(proposer, LLMProposer)


def prepare(ctx: OfflineContext, *, thread_id: str | None = None, iteration: int = 0) -> None:
    """Check the settings and build the proposer, raising :class:`ConfigError` early."""
    from evorec.graphs._context import check_int
    from evorec.journal import HISTORY_MODES
    from evorec.personas.context import Guardrails
    from evorec.tools.data import OUTCOMES

    persona_for(ctx, 0)
    if ctx.history_mode not in HISTORY_MODES:
        raise ConfigError(
            f"unknown history mode {ctx.history_mode!r} (expected one of {', '.join(HISTORY_MODES)})"
        )
    check_int("budget", ctx.budget, 0)
    check_int("max_repairs", ctx.max_repairs, 0)
    check_int("top_k", ctx.top_k, 1)
    check_int("proxy_budget", ctx.proxy_budget, 1, optional=True)
    check_int("max_promotions", ctx.max_promotions, 0, optional=True)
    check_int("seed", ctx.seed, 0)
    if not ctx.proxy_seeds:
        raise ConfigError("proxy_seeds needs at least one seed")
    for seed in ctx.proxy_seeds:
        check_int("each of proxy_seeds", seed, 0)
    if ctx.north_star not in OUTCOMES:
        raise ConfigError(
            f"unknown north star {ctx.north_star!r} (expected one of {', '.join(OUTCOMES)})"
        )
    Guardrails.coerce(ctx.guardrails)
    if not Path(ctx.data_path).is_file():
        raise DataError(f"logged data not found: {ctx.data_path} (run `evorec simulate` first)")
    get_proposer(ctx, thread_id=thread_id, iteration=iteration)


def _history(ctx: OfflineContext, persona: str) -> str:
    return _journal(ctx).render_history(
        ctx.history_mode, k=ctx.top_k, persona=persona, surface=ctx.surface
    )


def _structured(proposer: Any, schema: type[BaseModel], messages: list[Any]) -> Any:
    """One structured call to the proposer's chat model; ``ProposalError`` on a bad answer."""
    from pydantic import ValidationError

    from evorec.proposers import ProposalError

    try:
        answer = proposer.chat_model.with_structured_output(schema).invoke(messages)
    except (ValidationError, ValueError) as exc:
        raise ProposalError(f"the model's answer is not a valid {schema.__name__}: {exc}") from None
    if answer is None:
        raise ProposalError(f"the model returned no {schema.__name__}")
    if not isinstance(answer, schema):
        try:
            answer = schema.model_validate(answer)
        except ValidationError as exc:
            raise ProposalError(
                f"the model's answer is not a valid {schema.__name__}: {exc}"
            ) from None
    return answer


def _llm_messages(
    proposer: Any, state: OfflineState, ctx: OfflineContext, *, error: str | None
) -> list[Any]:
    from evorec.proposers import LLMProposer
    from evorec.ranker.schema import load_phi

    if ctx.steering or ctx.guardrails:
        # The run's steering and guardrails win over the proposer's own (a host's object).
        proposer = LLMProposer(
            proposer.chat_model,
            name=proposer.name,
            steering=ctx.steering or proposer.steering,
            guardrails=ctx.guardrails or proposer.guardrails,
        )
    return proposer.messages(
        state["persona"],
        baseline_phi=load_phi(state["parent_phi"]),
        history_text=_history(ctx, state["persona"]),
        error_feedback=error,
    )


def _proposal_dict(proposal: Any) -> dict[str, Any]:
    return {
        "hypothesis": proposal.hypothesis,
        "delta": list(proposal.delta),
        "meta": dict(proposal.meta),
    }


def _failed(state: OfflineState, message: str) -> dict[str, Any]:
    return {"error": message, "errors": [*(state.get("errors") or []), message]}


def _check(step: str, value: str) -> str:
    raise ValueError(f"offline graph: unexpected state after {step}: {value}")


# ------------------------------------------------------------------------ label SQL


def _term_sql(term: Any) -> str:
    from evorec.simulator.schema import SIGNAL_COLUMNS

    column = SIGNAL_COLUMNS[term.signal]
    x = f"COALESCE(CAST({column} AS DOUBLE), {float(term.fill_missing)!r})"
    if term.transform == "log1p":
        x = f"LN(1.0 + GREATEST({x}, -0.999999999999))"
    elif term.transform == "clip":
        x = f"LEAST({x}, {float(term.param)!r})"
    elif term.transform == "threshold":
        x = f"CASE WHEN {x} >= {float(term.param)!r} THEN 1.0 ELSE 0.0 END"
    return f"{float(term.weight)!r} * {x}"


def label_sql(phi: Any) -> str:
    """Φ.reward's label as one SQL expression over an ``impressions`` row.

    It mirrors the ranker's ``compose_label``: NULL → ``fill_missing``, then the transform,
    weighted and summed; under bce the label is clamped to [0, 1] as training does.
    """
    from evorec.ranker.schema import load_phi

    phi = phi if hasattr(phi, "reward") else load_phi(phi)
    total = " + ".join(f"({_term_sql(t)})" for t in phi.reward.terms)
    if phi.reward.loss == "bce":
        return f"GREATEST(0.0, LEAST(1.0, {total}))"
    return total


# ------------------------------------------------------------------------------- nodes


def setup(state: OfflineState, runtime: Runtime[OfflineContext]) -> dict[str, Any]:
    """Check the settings, make sure production Φ exists, build the proposer."""
    from evorec.production import ProductionRegistry

    ctx = _ctx(runtime)
    prepare(ctx, thread_id=_thread_id(), iteration=int(state.get("iteration") or 0))
    ProductionRegistry(ctx.registry_path).initialise()
    return {"iteration": int(state.get("iteration") or 0)}


def _reseed(proposer: Any, ctx: OfflineContext, journal: Any, persona: str, repairs: int) -> None:
    """Make a seeded search back-end's next proposal a function of the seed and the journal.

    So a run resumed in a new process (after a crash) proposes exactly what an uninterrupted
    run would have, and two runs with the same seed and journal agree.
    """
    rng = getattr(proposer, "rng", None)
    if isinstance(rng, random.Random):
        rng.seed(f"{ctx.seed}:{len(journal.records())}:{persona}:{repairs}")


def think(state: OfflineState, runtime: Runtime[OfflineContext]) -> dict[str, Any]:
    """Start an iteration (or retry its hypothesis): persona, production Φ, hypothesis."""
    from evorec.production import ProductionRegistry

    ctx = _ctx(runtime)
    iteration = int(state.get("iteration") or 0)
    update: dict[str, Any]
    if state.get("experiment_id") and state.get("error"):
        # Retrying a failed think step of the same iteration.
        update = {"repairs": int(state.get("repairs") or 0) + 1, "error": None}
        persona, parent = state["persona"], state["parent_phi"]
    else:
        persona = persona_for(ctx, iteration)
        current = ProductionRegistry(ctx.registry_path).initialise()
        parent = current.phi
        update = {
            "persona": persona,
            "experiment_id": f"exp-off-{secrets.token_hex(5)}",
            "parent_phi": parent,
            "parent_phi_hash": current.phi_hash,
            "hypothesis": None,
            "proposal": None,
            "candidate_phi": None,
            "lint": None,
            "error": None,
            "errors": [],
            "repairs": 0,
            "tool": None,
            "result": None,
            "judgement": None,
        }
    merged = {**state, **update}
    proposer = get_proposer(ctx, iteration=iteration)
    try:
        if _is_llm(proposer):
            messages = _llm_messages(proposer, merged, ctx, error=state.get("error"))
            messages[-1].content += (
                "\n# This step\n\nThink first: reply with your `hypothesis` only — what you "
                "will change, why, and what would refute it. You write the delta next.\n"
            )
            answer = _structured(proposer, HypothesisModel, messages)
            update["hypothesis"] = answer.hypothesis.strip()
        else:
            from evorec.journal import Journal
            from evorec.ranker.schema import load_phi

            journal = Journal(ctx.journal_path)
            _reseed(proposer, ctx, journal, persona, int(merged.get("repairs") or 0))
            proposal = proposer.propose(
                persona,
                baseline_phi=load_phi(parent),
                journal=journal,
                history_text=_history(ctx, persona),
            )
            update["hypothesis"] = proposal.hypothesis
            update["proposal"] = _proposal_dict(proposal)
    except EvorecError as exc:
        update.update(_failed(merged, f"think: {exc}"))
    return update


def code(state: OfflineState, runtime: Runtime[OfflineContext]) -> dict[str, Any]:
    """Write the delta for the hypothesis — or repair it, shown its own error."""
    from evorec.ranker.schema import load_phi

    ctx = _ctx(runtime)
    error = state.get("error")
    update: dict[str, Any] = {"error": None}
    if error:
        update["repairs"] = int(state.get("repairs") or 0) + 1
    elif state.get("proposal") is not None:
        return update  # a one-call back-end already wrote it in think
    proposer = get_proposer(ctx, iteration=int(state.get("iteration") or 0))
    try:
        if _is_llm(proposer):
            messages = _llm_messages(proposer, state, ctx, error=error)
            messages[-1].content += (
                "\n# This step\n\nYour hypothesis:\n\n"
                f"{state.get('hypothesis') or '(none)'}\n\n"
                "Now write the `delta` that tests it (fields: op, path, value_json).\n"
            )
            answer = _structured(proposer, DeltaModel, messages)
            update["proposal"] = {
                "hypothesis": state.get("hypothesis") or "",
                "delta": [op.to_op() for op in answer.delta],
                "meta": {"proposer": proposer.name},
            }
        else:
            journal = _journal(ctx)
            _reseed(proposer, ctx, journal, state["persona"], int(update.get("repairs") or 0))
            proposal = proposer.propose(
                state["persona"],
                baseline_phi=load_phi(state["parent_phi"]),
                journal=journal,
                history_text=_history(ctx, state["persona"]),
                error_feedback=error,
            )
            update["hypothesis"] = proposal.hypothesis
            update["proposal"] = _proposal_dict(proposal)
    except EvorecError as exc:
        update.update(_failed(state, f"code: {exc}"))
    return update


def _same_label(ctx: OfflineContext, candidate: Any, parent: Any) -> bool:
    """True when the candidate's label equals production's on every logged impression.

    Checked on the data itself (one guarded, sandboxed query), so rescaled or clamped
    variants that train on the very same targets are caught, not only identical terms.
    """
    if candidate.reward.loss != parent.reward.loss:
        return False
    new, old = label_sql(candidate), label_sql(parent)
    if new == old:
        return True
    from evorec.tools.sandbox import run_sql_query

    sql = f"SELECT count(*) AS differing FROM impressions WHERE abs(({new}) - ({old})) > 1e-9"
    try:
        return run_sql_query(ctx.data_path, sql, timeout_s=10.0).rows[0][0] == 0
    except EvorecError:
        return False  # undecidable here: the tool step judges it


def verify(state: OfflineState, runtime: Runtime[OfflineContext]) -> dict[str, Any]:
    """Apply and validate the delta, lint its meaning, check the parameter limit."""
    from evorec.delta import apply_delta
    from evorec.personas.linter import lint_delta

    ctx = _ctx(runtime)
    persona = state["persona"]
    delta = (state.get("proposal") or {}).get("delta")
    try:
        candidate = apply_delta(state["parent_phi"], delta)
    except EvorecError as exc:
        return {**_failed(state, f"verify: the delta does not apply to Φ: {exc}"), "lint": None}
    from evorec.ranker.schema import load_phi, phi_hash

    parent = load_phi(state["parent_phi"])
    if phi_hash(candidate) == phi_hash(parent):
        message = "verify: the delta leaves production Φ unchanged (it is already there)"
        return {**_failed(state, message), "lint": None}
    if persona == "reward" and _same_label(ctx, candidate, parent):
        message = (
            "verify: the new reward terms give exactly production's label on every logged "
            "impression (e.g. a rescaled click under the bce clamp to [0, 1]); change what "
            "the label measures"
        )
        return {**_failed(state, message), "lint": None}
    verdict = lint_delta(
        persona, state["parent_phi"], candidate, delta, guardrails=ctx.guardrails
    ).to_dict()
    proposer = get_proposer(ctx, iteration=int(state.get("iteration") or 0))
    if verdict["ok"] and ctx.llm_linter and _is_llm(proposer):
        from langchain_core.messages import HumanMessage

        from evorec.personas.context import build_lint_context

        prompt = build_lint_context(
            persona, baseline_phi=state["parent_phi"], delta=delta, guardrails=ctx.guardrails
        )
        try:
            answer = _structured(proposer, LintAnswer, [HumanMessage(content=prompt)])
            verdict = {
                "ok": bool(answer.ok),
                "problems": [f"linter persona: {p}" for p in answer.problems],
                "by": ["rules", "linter persona"],
            }
        except EvorecError as exc:
            verdict["notes"] = [f"linter persona gave no usable answer: {exc}"]
    update: dict[str, Any] = {"lint": verdict, "candidate_phi": candidate.to_json()}
    if not verdict["ok"]:
        problems = "; ".join(verdict["problems"]) or "the linter refused the delta"
        return {**update, **_failed(state, f"verify: linter: {problems}")}
    if persona in _PROXY_PERSONAS:
        from evorec.ranker.serving import check_constraints

        try:
            check_constraints(candidate, _evaluator(ctx, state).data().spec, measure_latency=False)
        except EvorecError as exc:
            return {**update, **_failed(state, f"verify: {exc}")}
    return {**update, "error": None}


def _evaluator(ctx: OfflineContext, state: OfflineState):
    from evorec.ranker.schema import load_phi
    from evorec.tools.agent_tools import ProxyEvaluator

    parent = load_phi(state["parent_phi"])
    return ProxyEvaluator(
        ctx.data_path,
        production_phi_provider=lambda: parent,
        seeds=tuple(int(s) for s in ctx.proxy_seeds),
        budget=ctx.proxy_budget,
        device=ctx.device,
    )


def _compute_loss(ctx: OfflineContext, state: OfflineState) -> dict[str, Any]:
    """compute_loss of the candidate against production (baseline result cached per data)."""
    return _evaluator(ctx, state).evaluate(delta=state["proposal"]["delta"])


def _label_correlation(ctx: OfflineContext, state: OfflineState) -> dict[str, Any]:
    """The candidate reward as a SQL label, correlated with the north star next to click."""
    from evorec.tools.data import label_correlation

    sql = label_sql(state["candidate_phi"])
    out = label_correlation(ctx.data_path, sql, outcome=ctx.north_star)
    # Production's own label is the bar to clear (click, until a new label launches).
    production_sql = label_sql(state["parent_phi"])
    if production_sql == sql:
        out["production"] = {"label_sql": production_sql, **out["label"]}
    else:
        prod = label_correlation(ctx.data_path, production_sql, outcome=ctx.north_star)
        out["production"] = {"label_sql": production_sql, **prod["label"]}
    return out


def tool(state: OfflineState, runtime: Runtime[OfflineContext]) -> dict[str, Any]:
    """Measure the candidate: compute_loss (Optimizer, Architecture) or label_correlation (Reward)."""
    ctx = _ctx(runtime)
    persona = state["persona"]
    name = "compute_loss" if persona in _PROXY_PERSONAS else "label_correlation"
    try:
        result = (
            _compute_loss(ctx, state) if name == "compute_loss" else _label_correlation(ctx, state)
        )
    except EvorecError as exc:
        return {"tool": name, "result": None, **_failed(state, f"{name}: {exc}")}
    return {"tool": name, "result": result, "error": None}


def judge(state: OfflineState, runtime: Runtime[OfflineContext]) -> dict[str, Any]:
    """Significantly better than production? ``improvement`` is higher-is-better."""
    result = state["result"] or {}
    if state["tool"] == "compute_loss":
        proxy = result["result"]
        cmp = proxy.get("comparison") or {}
        loss, base = proxy["loss"]["mean"], result["production"]["loss_mean"]
        delta = cmp.get("loss_delta")
        improvement = -float(delta) if delta is not None else base - loss
        better = bool(cmp.get("better"))
        if not cmp.get("comparable", True):
            reason = cmp.get("reason") or "not comparable with production"
        else:
            reason = (
                f"loss {loss:.6g} vs production {base:.6g} "
                f"({cmp.get('test')}, p={cmp.get('p_value')}): "
                + ("significantly better" if better else "not significantly better")
            )
        verdict = {
            "better": better,
            "improvement": improvement,
            "loss": loss,
            "baseline_loss": base,
            "p_value": cmp.get("p_value"),
            "significant": bool(cmp.get("significant")),
            "reason": reason,
        }
    else:
        # A screen, not a verdict: a new label moves the loss landscape, so only the A/B can
        # judge it. It passes when its user-level correlation with the north star is
        # positive (95% CI above 0) and higher than production's label's.
        r_label = result["label"]["r"]
        r_click = result["click"]["r"]
        label_ci = result["label"].get("ci95") or [None, None]
        production = result.get("production") or result["click"]
        r_prod = production.get("r")
        lo, hi = (result["label_vs_click"].get("ci95") or [None, None])[:2]
        usable = r_label is not None and r_prod is not None
        improvement = (r_label - r_prod) if usable else None
        better = bool(usable and r_label > r_prod and label_ci[0] is not None and label_ci[0] > 0)
        verdict = {
            "better": better,
            "improvement": improvement,
            "r_label": r_label,
            "r_label_ci95": label_ci,
            "r_production": r_prod,
            "r_click": r_click,
            "difference_vs_click_ci95": [lo, hi],
            "significant": bool(lo is not None and (lo > 0 or (hi is not None and hi < 0))),
            "reason": (
                f"label r = {r_label:+.3f} (95% CI [{label_ci[0]:+.3f}, {label_ci[1]:+.3f}]) vs "
                f"production's label r = {r_prod:+.3f}: "
                + ("passes the screen" if better else "does not pass the screen")
            )
            if usable and label_ci[0] is not None
            else result.get("summary", ""),
        }
    return {"judgement": verdict}


def _proxy_record(state: OfflineState, ctx: OfflineContext) -> dict[str, Any]:
    """What the journal keeps as the proxy result (tool, verdict and the tool's output)."""
    verdict = state.get("judgement") or {}
    out: dict[str, Any] = {"tool": state.get("tool"), **verdict}
    result = state.get("result") or {}
    if state.get("tool") == "compute_loss":
        out["proxy"] = result.get("result")
        out["change"] = result.get("change")
        out["seeds"] = list(ctx.proxy_seeds)
    else:
        out["correlation"] = result
        out["outcome"] = ctx.north_star
    return out


def journal(state: OfflineState, runtime: Runtime[OfflineContext]) -> dict[str, Any]:
    """Write the iteration's record: DRAFT → PROXY_BETTER | PROXY_WORSE | REJECTED | FAILED."""
    from evorec.journal import JournalError, Status, delta_key

    ctx = _ctx(runtime)
    store = _journal(ctx)
    exp_id = state["experiment_id"]
    persona = state["persona"]
    proposal = state.get("proposal") or {}
    hypothesis = (proposal.get("hypothesis") or state.get("hypothesis") or "").strip()
    delta = proposal.get("delta") or []
    proposer = get_proposer(ctx, iteration=int(state.get("iteration") or 0))
    try:
        delta_key(delta)
        from evorec.delta import parse_patch

        parse_patch(delta)
    except (EvorecError, TypeError, ValueError):
        delta = []  # not even a patch: the error text says what it was
    error = state.get("error")
    verdict = state.get("judgement")
    if error and verdict is None and state.get("tool") is None:
        status = Status.REJECTED
    elif error:
        status = Status.FAILED
    else:
        status = Status.PROXY_BETTER if verdict and verdict["better"] else Status.PROXY_WORSE
    try:
        record = store.create(
            surface=ctx.surface,
            author=str(getattr(proposer, "name", None) or ctx.model),
            persona=persona,
            parent_phi_hash=state["parent_phi_hash"],
            delta=delta,
            hypothesis=hypothesis or "(no hypothesis)",
            lint=state.get("lint"),
            experiment_id=exp_id,
        )
    except JournalError as exc:
        if "different" not in str(exc):
            raise
        record = store.get(exp_id)  # a re-run after a crash: keep what was written first
    crash_point("offline_journal")
    if record.status is Status.DRAFT:
        if status in (Status.PROXY_BETTER, Status.PROXY_WORSE, Status.FAILED) and state.get("tool"):
            store.set_proxy_result(exp_id, {**_proxy_record(state, ctx), "error": error})
        store.transition(exp_id, status, error=error)
    verdict = verdict or {}
    if status is Status.PROXY_BETTER or status is Status.PROXY_WORSE:
        value = (
            verdict.get("loss")
            if state.get("tool") == "compute_loss"
            else -(verdict.get("improvement") or 0.0)
        )
    else:
        value = None
    if proposal.get("meta") is not None:
        from evorec.proposers import Proposal

        proposer.observe(Proposal(hypothesis=hypothesis, delta=delta, meta=proposal["meta"]), value)
    last = {
        "experiment_id": exp_id,
        "iteration": int(state.get("iteration") or 0) + 1,
        "persona": persona,
        "status": status.value,
        "tool": state.get("tool"),
        "improvement": verdict.get("improvement"),
        "better": bool(verdict.get("better")),
        "hypothesis": hypothesis,
        "repairs": int(state.get("repairs") or 0),
        "error": error,
    }
    return {
        "iteration": int(state.get("iteration") or 0) + 1,
        "experiments": [exp_id],
        "last": last,
        "experiment_id": None,
        "proposal": None,
        "candidate_phi": None,
        "error": None,
    }


def promote(state: OfflineState, runtime: Runtime[OfflineContext]) -> dict[str, Any]:
    """Queue the last winner for the online loop (PROXY_BETTER → PROPOSED)."""
    from evorec.journal import Status

    ctx = _ctx(runtime)
    last = dict(state["last"])
    _journal(ctx).transition(
        last["experiment_id"], Status.PROPOSED, note="promoted by the offline agent"
    )
    last["status"] = Status.PROPOSED.value
    return {"promoted": [last["experiment_id"]], "last": last}


# ------------------------------------------------------------------------------ routers


def _budget_left(state: OfflineState, runtime: Runtime[OfflineContext] | None) -> bool:
    return int(state.get("iteration") or 0) < _ctx(runtime).budget


def _repair_or_reject(
    state: OfflineState, runtime: Runtime[OfflineContext], again: str
) -> Literal["code", "think", "journal"]:
    if int(state.get("repairs") or 0) < _ctx(runtime).max_repairs:
        return again  # type: ignore[return-value]
    return "journal"


def route_after_setup(
    state: OfflineState, runtime: Runtime[OfflineContext]
) -> Literal["think", "__end__"]:
    return "think" if _budget_left(state, runtime) else END


def route_after_think(
    state: OfflineState, runtime: Runtime[OfflineContext]
) -> Literal["code", "think", "journal"]:
    if state.get("error"):
        return _repair_or_reject(state, runtime, "think")
    return "code"


def route_after_code(
    state: OfflineState, runtime: Runtime[OfflineContext]
) -> Literal["verify", "code", "journal"]:
    if state.get("error"):
        return _repair_or_reject(state, runtime, "code")
    if state.get("proposal") is None:
        _check("code", "no proposal and no error")
    return "verify"


def route_after_verify(
    state: OfflineState, runtime: Runtime[OfflineContext]
) -> Literal["tool", "code", "journal"]:
    if state.get("error"):
        return _repair_or_reject(state, runtime, "code")
    return "tool"


def route_after_tool(state: OfflineState) -> Literal["judge", "journal"]:
    if state.get("error"):
        return "journal"  # a failed measurement is recorded as FAILED, not repaired
    if state.get("result") is None:
        _check("tool", "no result and no error")
    return "judge"


def route_after_journal(
    state: OfflineState, runtime: Runtime[OfflineContext]
) -> Literal["promote", "think", "__end__"]:
    ctx = _ctx(runtime)
    last = state.get("last") or {}
    room = ctx.max_promotions is None or len(state.get("promoted") or []) < ctx.max_promotions
    if last.get("status") == "PROXY_BETTER" and ctx.promote and room:
        return "promote"
    return "think" if _budget_left(state, runtime) else END


def route_after_promote(
    state: OfflineState, runtime: Runtime[OfflineContext]
) -> Literal["think", "__end__"]:
    return "think" if _budget_left(state, runtime) else END
