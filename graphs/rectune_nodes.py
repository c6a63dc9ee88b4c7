"""Nodes of AgenticRecTune: setup → actor → critic → review → online → insight → skill → actor …

One round:

* ``actor`` asks the back-end (built-in search, random, Optuna, or a chat model) for several
  candidates, each a delta against the best configuration so far with a hypothesis, from the
  skill (task, search space, objectives, knowledge, learned patterns, elites, initial config);
* ``critic`` keeps or drops each by explicit rules (:func:`evorec.rectune.agents.critique`),
  optionally also asking the chat model, and records a justification per proposal;
* ``review`` (only with ``review=True``) interrupts for a human to approve the survivors
  before they go live; resume with ``True`` (all), ``False`` (none) or a list of indices;
* ``online`` runs the approved candidates as treatments of ONE multi-arm simulated A/B test
  against the initial configuration (the control), scores them and appends them to
  ``<workdir>/results.jsonl``; in round 1 of a warm run (the Skillhub's skill has elites)
  the experiment also re-tests the best carried elite(s) (``retest_elites``, each costing
  one arm of the round and of the budget), so their stale evidence from the earlier run is
  replaced by fresh evidence on this run's population;
* ``insight`` prunes dominated candidates (Pareto with directions; only this run's evidence:
  carried elites that were not re-tested are stale and never points), checks guardrail floors,
  picks a diverse elite set and summarises what worked (a chat model writes the summary
  when there is one);
* ``skill`` distils the round into the Skillhub: field effects, learned rules, a narrowed
  search space after floor breaches, the elites — a new skill version — and moves the base
  configuration to the best point.

The run stops when its rounds or its cost budget (treatment arms) are spent.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from pathlib import Path
from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from evorec.errors import ConfigError, EvorecError
from evorec.faults import crash_point
from evorec.graphs._context import context_from
from evorec.graphs.rectune_state import STAGE_CHOICES, RecTuneContext, RecTuneState

__all__ = [
    "CriticAnswer",
    "InsightAnswer",
    "SkillAnswer",
    "actor",
    "critic",
    "get_proposer",
    "insight",
    "online",
    "prepare",
    "review",
    "route_after_setup",
    "route_after_skill",
    "setup",
    "skill",
]

_PROPOSERS: dict[tuple[Any, ...], Any] = {}
_STORES: dict[str, Any] = {}
_LOCK = threading.Lock()


# ------------------------------------------------------------------ structured answers


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The rule in words a colleague could act on.")
    pointer: str | None = Field(default=None, description="JSON pointer of the field, if any.")
    move: Literal["increase", "decrease"] | None = Field(
        default=None, description="The move the rule is about."
    )
    effect: Literal["helps", "hurts"] | None = Field(
        default=None, description="What the move does to the objectives."
    )


class _CriticItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="Index of the candidate.")
    keep: bool = Field(description="True to keep it for the A/B test.")
    reason: str = Field(description="One sentence: why.")


class CriticAnswer(BaseModel):
    """A chat model's answer as the Critic."""

    model_config = ConfigDict(extra="forbid")

    verdicts: list[_CriticItem] = Field(description="One verdict per candidate.")


class InsightAnswer(BaseModel):
    """A chat model's answer as the Insight agent."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="What worked and why, from the evidence.")


class SkillAnswer(BaseModel):
    """A chat model's answer as the Skill agent."""

    model_config = ConfigDict(extra="forbid")

    rules: list[_Rule] = Field(default_factory=list, description="Rules to append (at most 3).")


# ----------------------------------------------------------------------------- helpers


def _ctx(runtime: Runtime[RecTuneContext] | None) -> RecTuneContext:
    return context_from(runtime, RecTuneContext)


def _thread_id() -> str:
    try:
        from langgraph.config import get_config

        return str(get_config().get("configurable", {}).get("thread_id") or "default")
    except RuntimeError:
        return "default"


def _hub(runtime: Runtime[RecTuneContext] | None, ctx: RecTuneContext) -> Any:
    """The Skillhub on the context's store, the graph's store, or ``<workdir>/skillhub.sqlite``."""
    from evorec.rectune.skillhub import Skillhub

    store = ctx.store or getattr(runtime, "store", None)
    if store is None:
        path = str(Path(ctx.skillhub_path).resolve())
        with _LOCK:
            store = _STORES.get(path)
            if store is None:
                from langgraph.store.sqlite import SqliteStore

                Path(path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                store = SqliteStore(conn)
                store.setup()
                _STORES[path] = store
    return Skillhub(store)


def get_proposer(ctx: RecTuneContext, *, thread_id: str | None = None, round_index: int = 0) -> Any:
    """The Actor's back-end: ``ctx.proposer``, else one built from ``ctx.model`` (cached per
    thread; rebuilt with a fresh seed after a resume in a new process)."""
    if ctx.proposer is not None:
        return ctx.proposer
    from evorec.rectune.proposers import load_fusion_proposer

    key = (thread_id or _thread_id(), ctx.model, ctx.seed, ctx.surface, ctx.stage)
    with _LOCK:
        proposer = _PROPOSERS.get(key)
        if proposer is None:
            proposer = load_fusion_proposer(ctx.model, seed=ctx.seed + 1_000 * round_index)
            _PROPOSERS[key] = proposer
    return proposer


def _chat_model(ctx: RecTuneContext) -> Any:
    if ctx.chat_model is not None:
        return ctx.chat_model
    return getattr(get_proposer(ctx), "chat_model", None)


def _budget(ctx: RecTuneContext, skill: dict[str, Any] | None = None) -> int:
    if ctx.budget is not None:
        return int(ctx.budget)
    stored = ((skill or {}).get("objectives") or {}).get("budget")
    if ctx.objectives is not None:
        from evorec.rectune.objectives import Objectives

        stored = Objectives.coerce(ctx.objectives).budget
    return int(stored) if stored else ctx.rounds * ctx.proposals


def prepare(ctx: RecTuneContext, *, thread_id: str | None = None) -> None:
    """Check the settings and build the Actor's back-end, raising :class:`ConfigError` early."""
    from evorec.graphs._context import check_int, check_number
    from evorec.rectune.objectives import Objectives
    from evorec.simulator.ab import Guardrail
    from evorec.simulator.logs import validate_sizes
    from evorec.simulator.surfaces import get_surface

    if ctx.stage not in STAGE_CHOICES:
        raise ConfigError(
            f"unknown stage {ctx.stage!r} (expected one of {', '.join(STAGE_CHOICES)})"
        )
    check_int("rounds", ctx.rounds, 0)
    check_int("proposals", ctx.proposals, 1)
    check_int("budget", ctx.budget, 1, optional=True)
    check_int("retest_elites", ctx.retest_elites, 0)
    check_int("max_elites", ctx.max_elites, 1)
    check_int("pre_days", ctx.pre_days, 0, optional=True)
    check_int("seed", ctx.seed, 0)
    check_number("min_distance", ctx.min_distance, 0, 1, open_low=False, open_high=True)
    get_surface(ctx.surface)
    validate_sizes(ctx.users, ctx.days)
    for g in ctx.guardrails:
        if not isinstance(g, Guardrail | dict):
            raise ConfigError(f"a guardrail is a Guardrail or {{metric, max_drop}}, not {g!r}")
        if isinstance(g, dict):
            if set(g) != {"metric", "max_drop"}:
                raise ConfigError(f"a guardrail has exactly the keys metric and max_drop: {g!r}")
            Guardrail(**g)
    Objectives.coerce(ctx.objectives)
    get_proposer(ctx, thread_id=thread_id)


def _skill(state: RecTuneState) -> Any:
    from evorec.rectune.skillhub import Skill

    return Skill.model_validate(state["skill"])


def _structured(chat: Any, schema: type[BaseModel], messages: list[Any]) -> Any:
    """One structured call, retried once with the model's own error; None when unusable."""
    from langchain_core.messages import HumanMessage
    from pydantic import ValidationError

    for attempt in range(2):
        try:
            answer = chat.with_structured_output(schema).invoke(messages)
            return answer if isinstance(answer, schema) else schema.model_validate(answer)
        except (ValidationError, ValueError, TypeError) as exc:
            if attempt:
                return None
            messages = [
                *messages,
                HumanMessage(content=f"Your answer was not a valid {schema.__name__}: {exc}"),
            ]
    return None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ------------------------------------------------------------------------------- nodes


def setup(state: RecTuneState, runtime: Runtime[RecTuneContext]) -> dict[str, Any]:
    """Check the settings, retrieve the task's skill, pick the starting base configuration."""
    from evorec.rectune.objectives import Objectives
    from evorec.rectune.skillhub import seed_skill

    ctx = _ctx(runtime)
    prepare(ctx, thread_id=_thread_id())
    if state.get("skill"):  # resumed or re-entered: keep what the run already knows
        return {}
    objectives = None if ctx.objectives is None else Objectives.coerce(ctx.objectives)
    if ctx.use_skillhub:
        skill = _hub(runtime, ctx).retrieve(ctx.surface, ctx.stage, objectives=objectives)
    else:
        skill = seed_skill(ctx.surface, ctx.stage, objectives=objectives)
    best = skill.best_elite()
    if best is not None and best.score is not None and best.score > 0:
        base, score, arm = best.config, float(best.score), best.arm
    else:
        base, score, arm = skill.initial_config, 0.0, "initial"
    skill_json = json.loads(skill.model_dump_json())
    return {
        "round": int(state.get("round") or 0),
        "arms_used": 0,
        "skill": skill_json,
        "base_config": base,
        "base_score": score,
        "base_arm": arm,
        "retests": _retests(ctx, skill, _budget(ctx, skill_json)),
        "feedback": [],
        "pareto": [],
        "stop_reason": None,
    }


def _retests(ctx: RecTuneContext, skill: Any, budget: int) -> list[dict[str, Any]]:
    """The carried elites to re-test in round 1: the best ``ctx.retest_elites`` by their
    (stale) score, at most one round's arms and the budget."""
    scored = sorted(
        (e for e in skill.elites if e.score is not None and e.arm != "initial"),
        key=lambda e: -float(e.score),
    )
    cap = max(0, min(ctx.retest_elites, ctx.proposals, budget))
    return [
        _jsonable(
            {
                "arm": e.arm,
                "config": e.config,
                "delta": e.delta,
                "hypothesis": e.hypothesis,
                "score": e.score,
                "lifts": e.lifts,
            }
        )
        for e in scored[:cap]
    ]


def actor(state: RecTuneState, runtime: Runtime[RecTuneContext]) -> dict[str, Any]:
    """Propose this round's candidates (deltas against the base configuration, with hypotheses)."""
    from evorec.rectune.context import ActorTask

    ctx = _ctx(runtime)
    retests = len(state.get("retests") or [])
    left = _budget(ctx, state.get("skill")) - int(state.get("arms_used") or 0) - retests
    n = min(ctx.proposals - retests, left)
    if n <= 0:  # the round's arms all go to re-tests of carried elites
        return {"proposals": [], "error": None, "verdicts": [], "approved": None, "review": None}
    task = ActorTask(
        skill=_skill(state),
        base_config=state["base_config"],
        n=n,
        round=int(state.get("round") or 0),
        tested=[a for a in state.get("arms") or [] if a.get("config")],
        feedback=list(state.get("feedback") or []),
    )
    proposer = get_proposer(ctx, round_index=task.round)
    start_round = getattr(proposer, "start_round", None)
    if start_round is not None:
        start_round(ctx.seed + 1_000 * task.round)
    try:
        proposals = proposer.propose(task)
    except EvorecError as exc:
        return {"proposals": [], "error": f"actor: {exc}", "verdicts": [], "approved": []}
    return {
        "proposals": [_jsonable(p.to_dict()) for p in proposals],
        "error": None,
        "verdicts": [],
        "approved": None,
        "review": None,
    }


def critic(state: RecTuneState, runtime: Runtime[RecTuneContext]) -> dict[str, Any]:
    """Keep or drop each proposal by the explicit rules; record the justification."""
    from evorec.rectune.agents import critique
    from evorec.rectune.context import load_prompt, render_results
    from evorec.rectune.proposers import FusionProposal

    ctx = _ctx(runtime)
    proposals = state.get("proposals") or []
    skill_obj = _skill(state)
    retests = len(state.get("retests") or [])
    left = _budget(ctx, state.get("skill")) - int(state.get("arms_used") or 0) - retests
    verdicts = [
        v.to_dict()
        for v in critique(
            proposals,
            skill=skill_obj,
            base_config=state["base_config"],
            tested=state.get("arms") or [],
            max_keep=max(0, min(ctx.proposals - retests, left)),
            min_distance=ctx.min_distance,
        )
    ]
    chat = _chat_model(ctx) if ctx.llm_critic else None
    kept = [v for v in verdicts if v["kept"]]
    if chat is not None and kept:
        from langchain_core.messages import HumanMessage, SystemMessage

        lines = [
            f"- candidate {v['index']}: {proposals[v['index']]['hypothesis']} — changes "
            + ", ".join(f"{p} {a}→{b}" for p, (a, b) in v["changes"].items())
            for v in kept
        ]
        body = "\n".join(
            [
                "# Domain knowledge",
                *(f"- {k}" for k in skill_obj.knowledge_lines()),
                "",
                "# Objectives",
                skill_obj.objectives.describe(),
                "",
                "# Tested so far",
                render_results(state.get("arms") or [], skill_obj),
                "",
                "# Candidates",
                *lines,
            ]
        )
        answer = _structured(
            chat,
            CriticAnswer,
            [SystemMessage(content=load_prompt("critic")), HumanMessage(content=body)],
        )
        for item in answer.verdicts if answer is not None else []:
            for v in verdicts:
                if v["index"] == item.index and v["kept"] and not item.keep:
                    v.update(
                        kept=False,
                        rule="critic-model",
                        justification=f"dropped by the Critic model: {item.reason}",
                    )
    proposer = get_proposer(ctx, round_index=int(state.get("round") or 0))
    for v in verdicts:
        if not v["kept"]:
            p = proposals[v["index"]]
            proposer.observe(FusionProposal(p["hypothesis"], p["delta"], p.get("meta") or {}), None)
    feedback = [
        f"proposal {v['index']} ({proposals[v['index']]['hypothesis'][:80]}…): {v['justification']}"
        for v in verdicts
        if not v["kept"]
    ]
    return {
        "verdicts": _jsonable(verdicts),
        "feedback": feedback,
        "approved": [v["index"] for v in verdicts if v["kept"]],
    }


def review(state: RecTuneState, runtime: Runtime[RecTuneContext]) -> dict[str, Any]:
    """Optional human review before going live (a LangGraph interrupt).

    Resume with ``True`` (approve all), ``False`` (none), a list of proposal indices, or
    ``{"approve": [...]}``. Re-tests of carried elites (``retests`` in the payload) go live
    with the approved candidates, unless the answer is ``False`` (nothing goes live).
    """
    ctx = _ctx(runtime)
    approved = list(state.get("approved") or [])
    retests = list(state.get("retests") or [])
    if not ctx.review or not (approved or retests):
        return {}
    from langgraph.types import interrupt

    proposals = state.get("proposals") or []
    verdicts = {v["index"]: v for v in state.get("verdicts") or []}
    answer = interrupt(
        {
            "question": "Approve these candidates for the live (simulated) A/B test?",
            "round": int(state.get("round") or 0) + 1,
            "candidates": [
                {
                    "index": i,
                    "hypothesis": proposals[i]["hypothesis"],
                    "delta": proposals[i]["delta"],
                    "critic": verdicts.get(i, {}).get("justification"),
                }
                for i in approved
            ],
            "retests": [
                {"arm": r["arm"], "delta_from_initial": r["delta"], "stale_score": r["score"]}
                for r in retests
            ],
            "resume_with": "true (all), false (none), or a list of indices",
        }
    )
    if isinstance(answer, dict):
        answer = answer.get("approve", answer.get("approved", False))
    if answer is True:
        chosen = approved
    elif answer is False or answer is None:
        chosen = []
    elif isinstance(answer, list | tuple):
        chosen = [i for i in approved if i in {int(x) for x in answer}]
    else:
        raise ConfigError(f"unreadable review answer {answer!r}: use true, false or a list")
    update: dict[str, Any] = {
        "approved": chosen,
        "review": {"answer": _jsonable(answer), "approved": chosen},
    }
    if answer is False or answer is None:
        update["retests"] = []
    return update


def _read_out(name: str, result: Any, obj: Any) -> tuple[dict[str, Any], float]:
    """An arm's evidence fields from a multi-arm result, and its score (``-inf`` if none)."""
    from evorec.rectune.objectives import floor_breaches

    readouts = result.readouts.get(name)
    if name in result.dropped or not readouts:
        fields = {
            "status": "dropped",
            "reason": result.dropped.get(name) or "no read-out",
            "lifts": {},
            "intervals": {},
            "evidence": {},
            "breaches": list(obj.floors) or ["guardrail"],
            "feasible": False,
            "score": None,
        }
        return fields, -math.inf
    lifts = {m: float(r.rel_lift) for m, r in readouts.items()}
    intervals = {m: (float(r.ci_low), float(r.ci_high)) for m, r in readouts.items()}
    breaches = floor_breaches(lifts, obj, intervals)
    score = obj.score(lifts, intervals)
    fields = {
        "status": "measured",
        "lifts": lifts,
        "intervals": {m: list(ci) for m, ci in intervals.items()},
        "evidence": {m: r.to_dict() for m, r in readouts.items()},
        "adjusted_p": result.adjusted_p.get(name, {}),
        "breaches": breaches,
        "feasible": not breaches,
        "score": None if not math.isfinite(score) else score,
        "srm_valid": bool(result.srm[name].valid) if name in result.srm else None,
    }
    return fields, score


def online(state: RecTuneState, runtime: Runtime[RecTuneContext]) -> dict[str, Any]:
    """Run the approved candidates — and, in round 1 of a warm run, the carried elites queued
    for a re-test — in ONE multi-arm A/B test against the initial config.

    A re-test arm (``retest_of``: the elite's arm) replaces the elite's stale evidence from
    the earlier run; when it re-tests the base configuration, the base's score becomes the
    fresh one. Every arm, re-tests included, counts against the budget.
    """
    from evorec.rectune.proposers import FusionProposal
    from evorec.rectune.space import changed_values, delta_for
    from evorec.simulator.multi_ab import run_multi_ab
    from evorec.simulator.pipeline import PipelinePolicy

    ctx = _ctx(runtime)
    approved = list(state.get("approved") or [])
    retests = list(state.get("retests") or [])
    if not approved and not retests:
        return {}
    skill_obj = _skill(state)
    obj = skill_obj.objectives
    round_index = int(state.get("round") or 0)
    thread = _thread_id()
    proposals = state.get("proposals") or []
    verdicts = {v["index"]: v for v in state.get("verdicts") or []}
    names = {i: f"{thread}-r{round_index + 1}-p{i}" for i in approved}
    retest_names = [f"{thread}-r{round_index + 1}-e{j}" for j in range(len(retests))]
    treatments = {
        retest_names[j]: PipelinePolicy(r["config"], name=retest_names[j], surface=ctx.surface)
        for j, r in enumerate(retests)
    }
    treatments.update(
        {
            names[i]: PipelinePolicy(verdicts[i]["config"], name=names[i], surface=ctx.surface)
            for i in approved
        }
    )
    control = PipelinePolicy(skill_obj.initial_config, name="control", surface=ctx.surface)
    seed = ctx.seed * 1_000 + round_index
    # Not the thread id (random when the CLI is given none): the same seed and round split
    # users the same way, so a study is reproducible.
    salt = f"rectune-{ctx.surface}-{seed}"
    try:
        result = run_multi_ab(
            control,
            treatments,
            ctx.surface,
            ctx.users,
            ctx.days,
            seed=seed,
            guardrails=list(ctx.guardrails),
            salt=salt,
            pre_days=ctx.pre_days,
        )
    except EvorecError as exc:
        return {"error": f"online: {exc}", "arms_used": int(state.get("arms_used") or 0)}
    experiment_info = {"seed": seed, "salt": salt, "users": ctx.users, "days": ctx.days}
    space = skill_obj.search_space
    base_arm = state.get("base_arm")
    base_score = float(state.get("base_score") or 0.0)
    update: dict[str, Any] = {}
    arms = []
    for j, r in enumerate(retests):
        name = retest_names[j]
        from_initial = changed_values(skill_obj.initial_config, r["config"], space)
        arm: dict[str, Any] = {
            "arm": name,
            "round": round_index,
            "thread_id": thread,
            "surface": ctx.surface,
            "stage": ctx.stage,
            "proposer": "retest",
            "retest_of": r["arm"],
            "stale_score": r.get("score"),
            "stale_lifts": r.get("lifts") or {},
            "hypothesis": f"re-test of the carried elite {r['arm']} on this run's population"
            + (f" ({r['hypothesis']})" if r.get("hypothesis") else ""),
            "delta": [],
            "base_arm": r["arm"],
            "base_score": r.get("score"),
            "config": r["config"],
            "delta_from_initial": delta_for(
                skill_obj.initial_config, {p: b for p, (_, b) in from_initial.items()}
            ),
            "changes": {},
            "critic": "re-test of a carried elite: its evidence from an earlier run is stale",
            "experiment": experiment_info,
        }
        fields, score = _read_out(name, result, obj)
        arm.update(fields)
        if r["arm"] == base_arm:
            # The base is this elite: from now on its score is the fresh one (0, the
            # control's, when it breached a floor; the Skill agent then moves the base).
            base_arm, base_score = name, (score if math.isfinite(score) else 0.0)
            update.update(base_arm=base_arm, base_score=base_score)
        arms.append(_jsonable(arm))
    proposer = get_proposer(ctx, round_index=round_index) if approved else None
    for i in approved:
        name = names[i]
        v = verdicts[i]
        config = v["config"]
        from_initial = changed_values(skill_obj.initial_config, config, space)
        arm = {
            "arm": name,
            "round": round_index,
            "thread_id": thread,
            "surface": ctx.surface,
            "stage": ctx.stage,
            "proposer": (proposals[i].get("meta") or {}).get("proposer"),
            "hypothesis": proposals[i]["hypothesis"],
            "delta": proposals[i]["delta"],
            "base_arm": base_arm,
            "base_score": base_score,
            "config": config,
            "delta_from_initial": delta_for(
                skill_obj.initial_config, {p: b for p, (_, b) in from_initial.items()}
            ),
            "changes": v["changes"],
            "critic": v["justification"],
            "experiment": experiment_info,
        }
        fields, score = _read_out(name, result, obj)
        arm.update(fields)
        p = proposals[i]
        proposer.observe(FusionProposal(p["hypothesis"], p["delta"], p.get("meta") or {}), score)
        arms.append(_jsonable(arm))
    append_results(ctx.results_path, arms)
    crash_point("rectune_results")
    experiment = {
        "round": round_index,
        "seed": seed,
        "salt": salt,
        "arms": list(treatments),
        "retests": {retest_names[j]: r["arm"] for j, r in enumerate(retests)},
        "dropped": dict(result.dropped),
        "valid": bool(result.valid),
        "days_run": result.days_run,
    }
    return {
        **update,
        "arms": arms,
        "experiments": [_jsonable(experiment)],
        "arms_used": int(state.get("arms_used") or 0) + len(treatments),
        "retests": [],
        "error": None,
    }


def append_results(path: str | Path, arms: list[dict[str, Any]]) -> int:
    """Append the arms' read-outs to ``results.jsonl``, each line at most once.

    A process killed after the write but before the checkpoint re-runs the round on resume;
    the simulation is deterministic, so the re-run produces the same lines, and those already
    in the file are skipped. Returns the number of lines written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(arm, sort_keys=True) for arm in arms]
    seen: set[str] = set()
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            seen = {line.rstrip("\n") for line in fh}
    new = [line for line in lines if line not in seen]
    with path.open("a", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in new)
    return len(new)


def insight(state: RecTuneState, runtime: Runtime[RecTuneContext]) -> dict[str, Any]:
    """Prune dominated candidates, check floors, pick a diverse elite set, summarise."""
    from evorec.rectune import agents
    from evorec.rectune.context import load_prompt, render_results

    ctx = _ctx(runtime)
    round_index = int(state.get("round") or 0)
    skill_obj = _skill(state)
    arms = state.get("arms") or []
    report = agents.insight(
        arms, skill=skill_obj, round_index=round_index, max_elites=ctx.max_elites
    )
    chat = _chat_model(ctx)
    round_arms = [a for a in arms if a.get("round") == round_index]
    if chat is not None and round_arms:
        from langchain_core.messages import HumanMessage, SystemMessage

        body = "\n".join(
            [
                "# Objectives",
                skill_obj.objectives.describe(),
                "",
                "# This round's A/B evidence (lifts vs the initial configuration)",
                render_results(round_arms, skill_obj),
                "",
                "# Pareto set so far",
                render_results(report.pareto, skill_obj),
                "",
                "# Rule-based summary",
                report.summary,
            ]
        )
        answer = _structured(
            chat,
            InsightAnswer,
            [SystemMessage(content=load_prompt("insight")), HumanMessage(content=body)],
        )
        if answer is not None and answer.summary.strip():
            report.summary = f"{answer.summary.strip()}\n\n(evidence: {report.summary})"
    return {
        "insights": [_jsonable({"round": round_index, **report.to_dict()})],
        "pareto": _jsonable(report.pareto),
    }


def skill(state: RecTuneState, runtime: Runtime[RecTuneContext]) -> dict[str, Any]:
    """Distil the round into the Skillhub (a new version) and move the base to the best point."""
    from evorec.rectune import agents
    from evorec.rectune.context import load_prompt

    ctx = _ctx(runtime)
    round_index = int(state.get("round") or 0)
    skill_obj = _skill(state)
    last = (state.get("insights") or [{}])[-1]
    report = agents.InsightReport(
        pareto=last.get("pareto") or [],
        elites=last.get("elites") or [],
        pruned=last.get("pruned") or [],
        infeasible=last.get("infeasible") or [],
        summary=last.get("summary") or "",
    )
    round_arms = [a for a in state.get("arms") or [] if a.get("round") == round_index]
    chat = _chat_model(ctx)
    if chat is not None and round_arms:
        from langchain_core.messages import HumanMessage, SystemMessage

        body = "\n".join(
            [
                "# The skill's domain knowledge",
                *(f"- {k}" for k in skill_obj.knowledge_lines()),
                "",
                "# Search space fields",
                *(f"- `{p}`" for p in skill_obj.search_space),
                "",
                "# The Insight agent's summary",
                report.summary,
            ]
        )
        answer = _structured(
            chat,
            SkillAnswer,
            [SystemMessage(content=load_prompt("skill")), HumanMessage(content=body)],
        )
        if answer is not None:
            report.rules = [r.model_dump() for r in answer.rules[:3]]
    source = f"run {_thread_id()} round {round_index + 1}"
    new_skill, notes = agents.distil(
        skill_obj, round_arms, report, source=source, best_config=state.get("base_config")
    )
    update: dict[str, Any] = {"round": round_index + 1, "stop_reason": None}
    # The next base: the best feasible point of the Pareto set by score — at once when the
    # base is not a point of it (a carried elite that was not re-tested, or whose re-test
    # was dominated or breached a floor: only this run's evidence counts).
    scored = [p for p in report.pareto if p.get("score") is not None]
    if scored:
        best = max(scored, key=lambda p: p["score"])
        on_front = state.get("base_arm") in {p["arm"] for p in report.pareto}
        if best["arm"] != state.get("base_arm") and (
            not on_front or best["score"] > float(state.get("base_score") or 0.0)
        ):
            update.update(
                base_config=best["config"], base_score=best["score"], base_arm=best["arm"]
            )
    if ctx.save_skills:
        note = "; ".join(notes) if notes else "no change learned"
        stored = _hub(runtime, ctx).put(new_skill, f"{source}: {note}")
        update["skill_versions"] = [stored.version]
        new_skill = stored
    update["skill"] = json.loads(new_skill.model_dump_json())
    arms_used = int(state.get("arms_used") or 0)
    if round_index + 1 >= ctx.rounds:
        update["stop_reason"] = "rounds"
    elif arms_used >= _budget(ctx, update["skill"]):
        update["stop_reason"] = "budget"
    return update


# ------------------------------------------------------------------------------ routers


def route_after_setup(
    state: RecTuneState, runtime: Runtime[RecTuneContext]
) -> Literal["actor", "__end__"]:
    ctx = _ctx(runtime)
    done = int(state.get("round") or 0) >= ctx.rounds
    spent = int(state.get("arms_used") or 0) >= _budget(ctx, state.get("skill"))
    return END if done or spent else "actor"


def route_after_skill(state: RecTuneState) -> Literal["actor", "__end__"]:
    reason = state.get("stop_reason")
    if reason in ("rounds", "budget"):
        return END
    if reason is not None:
        raise ValueError(f"rectune graph: unexpected stop reason {reason!r}")
    return "actor"
