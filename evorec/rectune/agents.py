"""The rule-based cores of the Critic, Insight and Skill agents (pure functions; the graph's
nodes in :mod:`evorec.graphs.rectune_nodes` call them and add the optional chat model).

* :func:`critique` — keep or drop each proposal by explicit rules, with a justification.
* :func:`insight` — prune dominated candidates, check floors, pick a diverse elite set,
  summarise what worked.
* :func:`distil` — turn a round's evidence into a new skill version: field effects, learned
  rules in the domain knowledge, a narrowed search space after floor breaches, the elites.

An arm (a tested candidate) is a plain dict, as the Online node writes it to the results
file: ``arm``, ``round``, ``hypothesis``, ``delta`` (against the round's base), ``config``,
``changes`` (pointer → [base value, new value]), ``lifts``, ``intervals`` (95% CI of each
lift), ``evidence`` (full read-outs), ``breaches``, ``feasible``, ``score`` (None when a floor
is breached), ``base_score``, ``status`` (``measured``, ``dropped`` by a guardrail during the
test, ``failed``), and for the re-test of an elite carried over from an earlier run,
``retest_of`` (the elite's arm id).

Evidence carried over from an earlier run (a skill's elites) is **stale**: it was measured on
another population, and the elites were selected on those very read-outs, so their old
scores carry winner's curse. :func:`insight` never compares it with this run's evidence — a
carried elite enters the Pareto set only through its fresh re-test arm (see
:func:`evorec.graphs.rectune_nodes.setup`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evorec.errors import EvorecError
from evorec.rectune.context import stage_key
from evorec.rectune.objectives import Objectives, dominates, pareto_front
from evorec.rectune.skillhub import ElitePoint, Knowledge, Skill
from evorec.rectune.space import changed_values, config_distance, read_value

__all__ = [
    "BREACH",
    "InsightReport",
    "Verdict",
    "critique",
    "distil",
    "insight",
    "mentions",
    "stale_points",
]

#: What a floor-breaching test adds to a field's effects (scores are lifts, |x| << 1).
BREACH = -1.0e12


@dataclass
class Verdict:
    """The Critic's decision on one proposal."""

    index: int
    kept: bool
    rule: str
    """The rule that decided: ``ok`` when kept, else the rule broken."""
    justification: str
    config: dict[str, Any] | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _all_pointers(surface: Any) -> dict[str, Any]:
    from evorec.rectune.space import normalise_space
    from evorec.simulator.pipeline import fusion_search_space

    return normalise_space(fusion_search_space(surface=surface))


def mentions(hypothesis: str, pointer: str) -> bool:
    """Does the hypothesis name the field at ``pointer`` (its pointer, signal or name)?"""
    text = hypothesis.lower()
    if pointer.lower() in text:
        return True
    parts = pointer.strip("/").split("/")
    if len(parts) == 4 and parts[1] == "weights":
        signal = parts[2].lower()
        return signal in text or signal.replace("_", " ") in text
    name = parts[-1].lower()
    return name in text or name.replace("_", " ") in text or name.split("_")[0] in text


def _harmful_rule(skill: Skill, pointer: str, old: Any, new: Any) -> Knowledge | None:
    if not isinstance(old, int | float) or not isinstance(new, int | float) or old == new:
        return None
    move = "increase" if new > old else "decrease"
    for k in skill.knowledge:
        if k.pointer != pointer or k.move != move or k.effect != "hurts":
            continue
        if k.beyond is None:
            return k
        if (move == "increase" and new >= k.beyond) or (move == "decrease" and new <= k.beyond):
            return k
    return None


def critique(
    proposals: Sequence[dict[str, Any]],
    *,
    skill: Skill,
    base_config: dict[str, Any],
    tested: Sequence[dict[str, Any]] = (),
    max_keep: int | None = None,
    min_distance: float = 0.05,
    min_words: int = 5,
) -> list[Verdict]:
    """Keep or drop each proposal (``{"hypothesis", "delta"}``), in order, by these rules:

    1. **valid** — the delta applies and the result is a valid configuration that fits the
       surface;
    2. **stage** — it touches only the task's stage (aligned with the goal);
    3. **no-op** — it changes some tunable field;
    4. **range** — every changed field is in the skill's (possibly narrowed) search space and
       inside its bounds;
    5. **knowledge** — no change moves a field the way the domain knowledge records as
       harmful (a direction that moved a metric against its direction, past a guardrail);
    6. **explanation** — a hypothesis of at least ``min_words`` words that names every
       changed field;
    7. **duplicate** — not the base, an elite, a tested configuration or a kept proposal;
    8. **diversity** — at least ``min_distance`` (largest field change as a share of its
       range) from every proposal kept before it;
    9. **budget** — at most ``max_keep`` kept.
    """
    from evorec.simulator.pipeline import apply_fusion_delta

    prefix = f"/{stage_key(skill.stage)}/"
    every = _all_pointers(skill.surface)
    seen = {json.dumps(base_config, sort_keys=True): "the base configuration"}
    for e in skill.elites:
        seen.setdefault(json.dumps(e.config, sort_keys=True), f"elite {e.arm}")
    for arm in tested:
        if arm.get("config"):
            seen.setdefault(json.dumps(arm["config"], sort_keys=True), f"tested arm {arm['arm']}")
    kept_configs: list[tuple[int, dict[str, Any]]] = []
    out: list[Verdict] = []

    def drop(i: int, rule: str, why: str, **kw: Any) -> None:
        out.append(Verdict(index=i, kept=False, rule=rule, justification=why, **kw))

    for i, proposal in enumerate(proposals):
        delta = proposal.get("delta") or []
        hypothesis = str(proposal.get("hypothesis") or "").strip()
        if not delta:
            drop(i, "valid", "dropped: the delta is empty")
            continue
        try:
            config = apply_fusion_delta(base_config, delta)
            config.check_surface(skill.surface)
        except EvorecError as exc:
            drop(i, "valid", f"dropped: invalid — {exc}")
            continue
        config_json = config.to_json()
        outside = [
            str(op.get("path")) for op in delta if not str(op.get("path", "")).startswith(prefix)
        ]
        if outside:
            drop(
                i,
                "stage",
                f"dropped: not aligned with the task — it touches {', '.join(outside)} outside "
                f"the {skill.stage} stage",
            )
            continue
        changes = changed_values(base_config, config_json, every)
        changes_json = {p: [a, b] for p, (a, b) in changes.items()}
        if not changes:
            drop(i, "no-op", "dropped: it changes no tunable field of the base configuration")
            continue
        problems = []
        for pointer, (_, new) in changes.items():
            bound = skill.search_space.get(pointer)
            if bound is None:
                problems.append(f"{pointer} is not in the task's search space")
            elif not bound.contains(new):
                problems.append(
                    f"{pointer} = {new} is out of range [{bound.low:g}, {bound.high:g}]"
                )
        if problems:
            drop(i, "range", "dropped: " + "; ".join(problems), changes=changes_json)
            continue
        harmful = [
            (p, k)
            for p, (old, new) in changes.items()
            if (k := _harmful_rule(skill, p, old, new)) is not None
        ]
        if harmful:
            p, k = harmful[0]
            drop(
                i,
                "knowledge",
                f"dropped: moves {p} against the domain knowledge — {k.text}",
                changes=changes_json,
            )
            continue
        missing = [p for p in changes if not mentions(hypothesis, p)]
        if len(hypothesis.split()) < min_words or missing:
            why = (
                f"the hypothesis does not name {', '.join(missing)}"
                if missing
                else f"the hypothesis has fewer than {min_words} words"
            )
            drop(i, "explanation", f"dropped: no sound explanation — {why}", changes=changes_json)
            continue
        key = json.dumps(config_json, sort_keys=True)
        if key in seen:
            drop(i, "duplicate", f"dropped: duplicate of {seen[key]}", changes=changes_json)
            continue
        close = [
            (j, d)
            for j, other in kept_configs
            if (d := config_distance(config_json, other, skill.search_space)) < min_distance
        ]
        if close:
            j, d = close[0]
            drop(
                i,
                "diversity",
                f"dropped: too close to proposal {j} (distance {d:.3f} < {min_distance:g}); "
                "the set must be diverse",
                changes=changes_json,
            )
            continue
        if max_keep is not None and len(kept_configs) >= max_keep:
            drop(
                i,
                "budget",
                f"dropped: the round's arms ({max_keep}) are spent (cost budget)",
                changes=changes_json,
            )
            continue
        seen[key] = f"proposal {i}"
        kept_configs.append((i, config_json))
        out.append(
            Verdict(
                index=i,
                kept=True,
                rule="ok",
                justification=(
                    f"kept: valid, within the {skill.stage} search space, explained, and "
                    f"distinct; changes {', '.join(sorted(changes))}"
                ),
                config=config_json,
                changes=changes_json,
            )
        )
    return out


# ------------------------------------------------------------------------------ Insight


@dataclass
class InsightReport:
    """What the Insight agent found after a round."""

    pareto: list[dict[str, Any]]
    """The Pareto set (feasible, non-dominated points), best score first, with evidence."""
    elites: list[dict[str, Any]]
    """A diverse subset of the Pareto set (what the Actor builds on next)."""
    pruned: list[dict[str, Any]]
    """Dominated points: ``arm`` and the ``by`` arm that dominates it."""
    infeasible: list[dict[str, Any]]
    """Points that breached a guardrail floor: ``arm`` and ``breaches``."""
    summary: str
    """What worked and why (text)."""
    rules: list[dict[str, Any]] = field(default_factory=list)
    """Rules proposed for the domain knowledge (from a chat model, if any)."""
    stale: list[dict[str, Any]] = field(default_factory=list)
    """Elites carried over from an earlier run and not re-tested in this one: ``arm``, their
    old ``score`` and ``lifts``. Their evidence is stale, so they are not points of the Pareto
    set (and drop out of the elites)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def initial_point(skill: Skill) -> dict[str, Any]:
    """The initial configuration as a point of the Pareto order (all lifts 0: it is the control)."""
    return {
        "arm": "initial",
        "round": None,
        "config": skill.initial_config,
        "delta": [],
        "changes": {},
        "hypothesis": "the initial configuration (the A/B control)",
        "lifts": {m: 0.0 for m in skill.objectives.directions},
        "evidence": {},
        "breaches": [],
        "feasible": True,
        "score": 0.0,
        "status": "control",
    }


def stale_points(skill: Skill, arms: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The skill's carried elites that ``arms`` neither re-tested nor contain, as points
    marked ``stale`` (their evidence comes from an earlier run)."""
    own = {a.get("arm") for a in arms}
    own |= {a.get("retest_of") for a in arms if a.get("retest_of")}
    out = []
    for e in skill.elites:
        if e.arm == "initial" or e.arm in own:
            continue
        out.append(
            {
                "arm": e.arm,
                "round": None,
                "config": e.config,
                "delta": e.delta,
                "changes": {},
                "hypothesis": e.hypothesis,
                "lifts": e.lifts,
                "evidence": e.evidence,
                "breaches": [],
                "feasible": True,
                "score": e.score,
                "status": "carried",
                "stale": True,
            }
        )
    return out


def _diverse(points: list[dict[str, Any]], metrics: list[str], k: int) -> list[dict[str, Any]]:
    """Greedy max-min selection in lift space, starting from the best score."""
    if len(points) <= k:
        return list(points)
    chosen = [points[0]]
    rest = points[1:]
    while len(chosen) < k and rest:

        def gap(p: dict[str, Any]) -> float:
            return min(
                math.sqrt(sum((p["lifts"][m] - c["lifts"][m]) ** 2 for m in metrics))
                for c in chosen
            )

        best = max(rest, key=gap)
        chosen.append(best)
        rest.remove(best)
    return chosen


def _fmt_lifts(lifts: dict[str, float], metrics: list[str]) -> str:
    return ", ".join(f"{m} {lifts.get(m, float('nan')):+.1%}" for m in metrics)


def insight(
    arms: Sequence[dict[str, Any]],
    *,
    skill: Skill,
    round_index: int | None = None,
    max_elites: int = 5,
) -> InsightReport:
    """Pareto-prune ``arms`` (every arm of the run so far) with the initial configuration,
    check floors, pick elites, summarise.

    Only this run's evidence competes: the skill's carried elites are stale (another
    population, scores inflated by their own selection) and enter only through their fresh
    re-test arms (``retest_of``); the others are listed in ``stale``, never in the Pareto set.
    Arms marked ``stale`` are ignored the same way.
    """
    obj: Objectives = skill.objectives
    metrics = list(obj.directions)
    measured = [a for a in arms if a.get("status") == "measured"]
    infeasible = [
        {"arm": a["arm"], "breaches": a.get("breaches") or [], "lifts": a.get("lifts")}
        for a in measured
        if not a.get("feasible")
    ]
    stale = [
        {"arm": p["arm"], "score": p.get("score"), "lifts": p.get("lifts")}
        for p in [*stale_points(skill, arms), *(a for a in measured if a.get("stale"))]
    ]
    candidates = [initial_point(skill)]
    candidates += [a for a in measured if a.get("feasible") and not a.get("stale")]
    candidates = [p for p in candidates if all(p["lifts"].get(m) is not None for m in metrics)]
    front_idx = pareto_front([p["lifts"] for p in candidates], obj.directions)
    front = [candidates[i] for i in front_idx]
    front.sort(key=lambda p: -(p.get("score") if p.get("score") is not None else -math.inf))
    pruned = []
    for i, p in enumerate(candidates):
        if i in front_idx:
            continue
        by = next(q["arm"] for q in candidates if dominates(q["lifts"], p["lifts"], obj.directions))
        pruned.append({"arm": p["arm"], "by": by})
    elites = _diverse(front, metrics, max_elites)

    this_round = [a for a in arms if round_index is None or a.get("round") == round_index]
    lines = []
    label = "the run" if round_index is None else f"round {round_index + 1}"
    tested = [a for a in this_round if a.get("status") == "measured"]
    dropped = [a for a in this_round if a.get("status") != "measured"]
    lines.append(
        f"In {label}, {len(tested)} candidate(s) got a read-out"
        + (f" and {len(dropped)} were stopped by a guardrail or failed" if dropped else "")
        + "."
    )
    good = sorted(
        (
            a
            for a in tested
            if a.get("feasible") and a.get("score") is not None and not a.get("retest_of")
        ),
        key=lambda a: -a["score"],
    )
    for a in good[:3]:
        gain = a["score"] - (a.get("base_score") or 0.0)
        moves = ", ".join(f"{p} {o}→{n}" for p, (o, n) in (a.get("changes") or {}).items())
        verdict = "improved on" if gain > 0 else "did not beat"
        lines.append(
            f"{a['arm']} ({moves}) {verdict} its base by {gain:+.4f} in score: "
            f"{_fmt_lifts(a['lifts'], metrics)}."
        )
    for a in (x for x in tested if x.get("retest_of")):
        lines.append(
            f"{a['arm']} re-tested the carried elite {a['retest_of']} on this run's population: "
            + (
                f"score {a['score']:+.4f} (its earlier run reported {a['stale_score']:+.4f})."
                if a.get("score") is not None and a.get("stale_score") is not None
                else "it breached a floor this time."
                if not a.get("feasible")
                else f"score {a.get('score')}."
            )
        )
    for a in (x for x in tested if not x.get("feasible")):
        moves = ", ".join(f"{p} {o}→{n}" for p, (o, n) in (a.get("changes") or {}).items())
        lines.append(
            f"{a['arm']} ({moves}) breached the floor of {', '.join(a.get('breaches') or [])}: "
            f"{_fmt_lifts(a['lifts'], metrics)}."
        )
    best = front[0] if front else None
    if best is not None:
        lines.append(
            f"The Pareto set has {len(front)} point(s) ({len(pruned)} dominated pruned); the "
            f"best by score is {best['arm']} ({_fmt_lifts(best['lifts'], metrics)})."
        )
    if stale and round_index in (None, 0):
        lines.append(
            f"Carried elite(s) {', '.join(x['arm'] for x in stale)} were not re-tested: their "
            "evidence from an earlier run is stale and is not compared with this run's."
        )
    return InsightReport(
        pareto=front,
        elites=elites,
        pruned=pruned,
        infeasible=infeasible,
        summary=" ".join(lines),
        stale=stale,
    )


# -------------------------------------------------------------------------------- Skill


def _narrow(
    skill: Skill, pointer: str, old: float, new: float, keep: Sequence[float]
) -> str | None:
    """Shrink ``pointer``'s bound away from ``new`` (halfway back to ``old``), never past a
    value in ``keep`` (the initial and best configurations' values)."""
    bound = skill.search_space.get(pointer)
    if bound is None or old == new:
        return None
    mid = (old + new) / 2.0
    if new > old:
        high = max([mid, *keep])
        if high >= bound.high:
            return None
        skill.search_space[pointer] = bound.model_copy(update={"high": high})
        return f"{pointer}: high {bound.high:g} → {high:g}"
    low = min([mid, *keep])
    if low <= bound.low:
        return None
    skill.search_space[pointer] = bound.model_copy(update={"low": low})
    return f"{pointer}: low {bound.low:g} → {low:g}"


def _has_rule(skill: Skill, pointer: str | None, move: str | None, effect: str | None) -> bool:
    return any(
        k.pointer == pointer and k.move == move and k.effect == effect and pointer is not None
        for k in skill.knowledge
    )


def distil(
    skill: Skill,
    round_arms: Sequence[dict[str, Any]],
    report: InsightReport,
    *,
    source: str,
    best_config: dict[str, Any] | None = None,
) -> tuple[Skill, list[str]]:
    """The skill's next content (not yet stored) and a changelog of what changed.

    * every measured arm adds its score gain over its base (or :data:`BREACH`) to the
      effects of the fields it moved;
    * a significant floor breach by a move of one or two fields adds a "hurts" rule per field
      and narrows that field's bounds halfway back from the breaching value;
    * a feasible Pareto point from a one-field move that beat its base adds a "helps" rule;
    * the Insight's rules (from a chat model) are appended as they are;
    * the elites become the report's elite set — freshly measured points only (carried
      elites that were not re-tested are stale and drop out), unless nothing was measured
      in the round, when the skill keeps its elites.
    """
    new = skill.model_copy(deep=True)
    obj = new.objectives
    notes: list[str] = []
    keep_values: dict[str, list[float]] = {}
    for pointer in new.search_space:
        values = [read_value(new.initial_config, pointer)]
        if best_config is not None:
            values.append(read_value(best_config, pointer))
        keep_values[pointer] = [float(v) for v in values if isinstance(v, int | float)]
    front_arms = {p["arm"] for p in report.pareto}
    for arm in round_arms:
        if arm.get("status") != "measured":
            continue
        changes = arm.get("changes") or {}
        gain = (
            BREACH
            if not arm.get("feasible") or arm.get("score") is None
            else float(arm["score"]) - float(arm.get("base_score") or 0.0)
        )
        for pointer, (old, value) in changes.items():
            if not isinstance(old, int | float) or not isinstance(value, int | float):
                continue
            move = "increase" if value > old else "decrease"
            new.field_effects.setdefault(pointer, {}).setdefault(move, []).append(gain)
        if not arm.get("feasible") and 0 < len(changes) <= 2:
            for metric in arm.get("breaches") or []:
                lift = arm["lifts"].get(metric)
                floor = obj.floors.get(metric)
                for pointer, (old, value) in changes.items():
                    if not isinstance(old, int | float) or not isinstance(value, int | float):
                        continue
                    move = "increase" if value > old else "decrease"
                    lift_text = f"{lift:+.1%}" if lift is not None else "no read-out"
                    text = (
                        f"{'Raising' if move == 'increase' else 'Lowering'} {pointer} from "
                        f"{old:g} to {value:g} breached the {metric} floor ({lift_text} < "
                        f"{floor:+.1%}) in {source}, arm {arm['arm']}."
                    )
                    if not any(k.text == text for k in new.knowledge):
                        new.knowledge.append(
                            Knowledge(
                                text=text,
                                pointer=pointer,
                                move=move,
                                effect="hurts",
                                beyond=float(value),
                                metric=metric,
                                source=source,
                            )
                        )
                        notes.append(f"rule: {text}")
                    narrowed = _narrow(new, pointer, float(old), float(value), keep_values[pointer])
                    if narrowed:
                        notes.append(f"search space narrowed: {narrowed}")
        elif arm.get("feasible") and arm["arm"] in front_arms and len(changes) == 1 and gain > 0:
            pointer, (old, value) = next(iter(changes.items()))
            if isinstance(old, int | float) and isinstance(value, int | float):
                move = "increase" if value > old else "decrease"
                if not _has_rule(new, pointer, move, "helps"):
                    text = (
                        f"{'Raising' if move == 'increase' else 'Lowering'} {pointer} from "
                        f"{old:g} to {value:g} reached the Pareto set ({source}, arm "
                        f"{arm['arm']}: {_fmt_lifts(arm['lifts'], list(obj.directions))})."
                    )
                    new.knowledge.append(
                        Knowledge(
                            text=text, pointer=pointer, move=move, effect="helps", source=source
                        )
                    )
                    notes.append(f"rule: {text}")
    for rule in report.rules:
        text = str(rule.get("text") or "").strip()
        if not text or any(k.text == text for k in new.knowledge):
            continue
        pointer = rule.get("pointer") if rule.get("pointer") in new.search_space else None
        new.knowledge.append(
            Knowledge(
                text=text,
                pointer=pointer,
                move=rule.get("move") if rule.get("move") in ("increase", "decrease") else None,
                effect=rule.get("effect") if rule.get("effect") in ("helps", "hurts") else None,
                source=f"{source} (insight)",
            )
        )
        notes.append(f"rule (insight): {text}")
    elites = []
    for p in report.elites:
        if p["arm"] == "initial":
            continue
        elites.append(
            ElitePoint(
                arm=p["arm"],
                config=p["config"],
                delta=p.get("delta_from_initial") or p.get("delta") or [],
                hypothesis=p.get("hypothesis") or "",
                lifts={k: float(v) for k, v in p["lifts"].items() if v is not None},
                evidence=p.get("evidence") or {},
                score=p.get("score"),
            )
        )
    if not elites and not any(a.get("status") == "measured" for a in round_arms):
        elites = list(new.elites)  # nothing went live: keep what the Skillhub knew
    if [e.arm for e in elites] != [e.arm for e in skill.elites]:
        notes.append(f"elites: {', '.join(e.arm for e in elites) or '(none)'}")
    new.elites = elites
    return new, notes
