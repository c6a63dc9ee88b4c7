"""The Skillhub: a persistent, versioned store of tuning skills, on a LangGraph store.

A :class:`Skill` is what the agents know about one task (a surface and a pipeline stage):

* task context — what is tuned and why;
* requirements — the search space (JSON pointers with bounds), the configuration schema,
  limits (arms per round, the cost budget);
* north-star metrics with their directions and guardrail floors (:class:`Objectives`);
* the initial configuration;
* domain knowledge — rules, seeded by hand and appended by the Skill agent;
* tools the agents use;
* and what runs learned: the elite (Pareto) configurations with their A/B evidence and the
  observed effect of moving each field.

Each change is a new version; old versions stay readable. Skills live in any
``langgraph.store.base.BaseStore`` under the namespace ``("evorec", "skillhub", surface,
stage)`` (keys ``v0001``, ``v0002``, … and ``latest``): :class:`~langgraph.store.memory.InMemoryStore`
in tests, ``SqliteStore`` at ``<workdir>/skillhub.sqlite`` for standalone runs
(:func:`open_skillhub`), or a host system's own store. :meth:`Skillhub.export_markdown`
renders skills as readable Markdown.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evorec.errors import ConfigError
from evorec.rectune.objectives import Objectives
from evorec.rectune.space import Bound, normalise_space

__all__ = [
    "STAGES",
    "ElitePoint",
    "Knowledge",
    "Skill",
    "Skillhub",
    "open_skillhub",
    "seed_skill",
    "skill_to_markdown",
    "task_key",
]

#: Stages of the pipeline a task can tune.
STAGES = ("pre-ranking", "ranking", "re-ranking")

_ROOT = ("evorec", "skillhub")

_TOOLS = [
    "apply_fusion_delta: apply an RFC 6902 delta to the fusion configuration (validated)",
    "fusion_search_space: the tunable fields of a stage with their bounds",
    "run_multi_ab: one simulated multi-arm A/B test of several treatments against a control",
]

#: Hand-written starting knowledge per stage (the Skill agent appends learned rules).
_SEED_KNOWLEDGE: dict[str, list[str]] = {
    "pre-ranking": [
        "Pre-ranking is a cheap filter: it decides which candidates reach the ranker. Its "
        "fusion weights matter through which items survive, so a relevance head (p_click or "
        "relevance) should stay dominant.",
        "Passing too few items on (keep) starves the later stages of good candidates; "
        "passing more rarely hurts the metrics.",
    ],
    "ranking": [
        "A larger weight on predicted click (p_click) raises clicks, but on surfaces with "
        "clickbait it lowers satisfaction and, with delay, active days.",
        "Weights on quality and predicted watch time (p_watch) tend to raise satisfaction "
        "and time spent; the north star (active days) follows satisfaction.",
        "An exponent above 1 sharpens a signal's influence on the top of the order; below 1 "
        "flattens it.",
    ],
    "re-ranking": [
        "Re-ranking shapes the final slate: a diversity penalty reduces topic repetition and "
        "tends to help satisfaction, but too strong a penalty hurts relevance and clicks.",
        "Signals users do not care about (freshness is a candidate) only add noise to the order.",
    ],
}


def task_key(surface: str, stage: str) -> str:
    """``"home_feed/ranking"``: how a task is named in the Skillhub."""
    return f"{surface}/{stage}"


def _namespace(surface: str, stage: str) -> tuple[str, ...]:
    # LangGraph store namespaces may not contain periods (a surface file name may).
    return (*_ROOT, str(surface).replace(".", "_"), str(stage).replace(".", "_"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Knowledge(BaseModel):
    """One rule of domain knowledge (free text, optionally tied to a field and a move)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The rule, in words.")
    pointer: str | None = Field(default=None, description="Field the rule is about, if any.")
    move: Literal["increase", "decrease"] | None = Field(
        default=None, description="The move of that field the rule is about."
    )
    effect: Literal["helps", "hurts"] | None = Field(
        default=None, description="What the move did to the objectives."
    )
    beyond: float | None = Field(
        default=None,
        description="For a harmful move: the value past which it was seen to hurt.",
    )
    metric: str | None = Field(default=None, description="Metric the rule is about, if any.")
    source: str = Field(default="seed", description="Where the rule came from.")


class ElitePoint(BaseModel):
    """A configuration on the Pareto set, with the A/B evidence that put it there."""

    model_config = ConfigDict(extra="forbid")

    arm: str = Field(description="Arm id (run, round, index).")
    config: dict[str, Any] = Field(description="The full fusion configuration (JSON).")
    delta: list[dict[str, Any]] = Field(description="Delta from the initial configuration.")
    hypothesis: str = Field(default="", description="Why it was proposed.")
    lifts: dict[str, float] = Field(description="Relative lift per metric vs the control.")
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="Per-metric read-outs (means, CI, p-value)."
    )
    score: float | None = Field(default=None, description="The objectives' scalar score.")


class Skill(BaseModel):
    """What the agents know about one tuning task (one version)."""

    model_config = ConfigDict(extra="forbid")

    surface: str = Field(description="Simulated surface the task tunes.")
    stage: Literal["pre-ranking", "ranking", "re-ranking"] = Field(description="Pipeline stage.")
    version: int = Field(default=0, ge=0, description="Version in the Skillhub (0: not stored).")
    context: str = Field(default="", description="Task context: what is tuned and why.")
    search_space: dict[str, Bound] = Field(
        description="Requirements: tunable fields (JSON pointers) with their bounds."
    )
    schema_text: str = Field(default="", description="Requirements: the configuration schema.")
    limits: dict[str, Any] = Field(
        default_factory=dict, description="Requirements: limits (arms per round, budget)."
    )
    objectives: Objectives = Field(
        default_factory=Objectives,
        description="North-star metrics with directions, guardrail floors, cost budget.",
    )
    initial_config: dict[str, Any] = Field(description="The task's initial configuration.")
    knowledge: list[Knowledge] = Field(default_factory=list, description="Domain knowledge.")
    tools: list[str] = Field(default_factory=lambda: list(_TOOLS), description="Agent tools.")
    elites: list[ElitePoint] = Field(
        default_factory=list, description="Pareto configurations learned so far."
    )
    field_effects: dict[str, dict[str, list[float]]] = Field(
        default_factory=dict,
        description="Pointer -> move (increase/decrease) -> scores of the A/B tests that made it.",
    )
    changelog: list[str] = Field(default_factory=list, description="One line per version.")
    updated_at: str = Field(default_factory=_now, description="When this version was written.")

    @property
    def task(self) -> str:
        return task_key(self.surface, self.stage)

    def knowledge_lines(self) -> list[str]:
        return [k.text for k in self.knowledge]

    def best_elite(self) -> ElitePoint | None:
        scored = [e for e in self.elites if e.score is not None]
        return max(scored, key=lambda e: e.score) if scored else None


#: Seed tuning ranges, narrower than the schema's (a weight may lie in [-10, 10]): where a
#: tuner should look first. The Skill agent narrows them further after failures.
_SEED_RANGE = {"weight": (-1.0, 3.0), "exponent": (0.25, 3.0), "diversity_penalty": (0.0, 2.0)}


def _tuning_space(space: dict[str, Bound], initial: dict[str, Any]) -> dict[str, Bound]:
    out = {}
    for pointer, bound in space.items():
        parts = pointer.strip("/").split("/")
        low, high = bound.low, bound.high
        if parts[-1] in _SEED_RANGE:
            lo, hi = _SEED_RANGE[parts[-1]]
            low, high = max(low, lo), min(high, hi)
        elif parts[-1] == "keep":
            # Keeps must not grow from stage to stage: stay between the neighbours' keeps.
            from evorec.simulator.pipeline import STAGES as PIPELINE_STAGES

            i = PIPELINE_STAGES.index(parts[0])
            if i > 0:
                high = min(high, float(initial[PIPELINE_STAGES[i - 1]]["keep"]))
            if i + 1 < len(PIPELINE_STAGES):
                low = max(low, float(initial[PIPELINE_STAGES[i + 1]]["keep"]))
        if low > high:
            continue
        out[pointer] = bound.model_copy(update={"low": low, "high": high})
    return out


def seed_skill(
    surface: str, stage: str, *, objectives: Objectives | dict[str, Any] | None = None
) -> Skill:
    """A task's first skill: the stage's search space, schema and initial configuration from
    the simulator's pipeline, hand-written domain knowledge, the objectives."""
    from evorec.simulator import pipeline

    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r} (expected one of {', '.join(STAGES)})")
    initial = pipeline.baseline_fusion()
    initial_json = initial.to_json()
    space = _tuning_space(
        normalise_space(pipeline.fusion_search_space(stage, surface=surface)), initial_json
    )
    if not space:
        raise ConfigError(f"the {stage} stage has no tunable fields")
    schema = "\n".join(
        f"- `{path}` {kind}: {text}" for path, kind, text in pipeline.describe_fusion_fields(stage)
    )
    objectives = Objectives.coerce(objectives)
    return Skill(
        surface=surface,
        stage=stage,  # type: ignore[arg-type]
        context=(
            f"Tune the score fusion of the {stage} stage of the {surface} recommendation "
            "pipeline (weights and exponents of its prediction heads and signals, and how "
            "many items it passes on) so that the north-star metrics improve in their "
            "directions without breaching a guardrail floor. Every change is a delta to the "
            "fusion configuration and is judged by a simulated multi-arm A/B test."
        ),
        search_space=space,
        schema_text=schema,
        limits={"max_arms_per_round": 4, "budget": objectives.budget},
        objectives=objectives,
        initial_config=copy.deepcopy(initial_json),
        knowledge=[Knowledge(text=t) for t in _SEED_KNOWLEDGE[stage]],
        changelog=[f"{_now()} seeded from the simulator's {stage} search space"],
    )


class Skillhub:
    """Versioned skills in a LangGraph ``BaseStore`` (the host's, or one of ours)."""

    def __init__(self, store: Any) -> None:
        if store is None:
            raise ConfigError("the Skillhub needs a LangGraph store (BaseStore)")
        self.store = store

    # ---------------------------------------------------------------- reading

    def latest(self, surface: str, stage: str) -> Skill | None:
        """The newest version of a task's skill, or None."""
        pointer = self.store.get(_namespace(surface, stage), "latest")
        if pointer is None:
            return None
        return self.get(surface, stage, int(pointer.value["version"]))

    def get(self, surface: str, stage: str, version: int) -> Skill | None:
        item = self.store.get(_namespace(surface, stage), f"v{int(version):04d}")
        return None if item is None else Skill.model_validate(item.value)

    def versions(self, surface: str, stage: str) -> list[int]:
        items = self.store.search(_namespace(surface, stage), limit=10_000)
        return sorted(int(i.key[1:]) for i in items if i.key.startswith("v"))

    def tasks(self) -> list[str]:
        """Every task with a stored skill, as ``surface/stage``."""
        out = []
        for ns in self.store.list_namespaces(prefix=_ROOT, limit=10_000):
            if len(ns) == len(_ROOT) + 2:
                out.append(task_key(ns[-2], ns[-1]))
        return sorted(out)

    def retrieve(
        self,
        surface: str,
        stage: str,
        *,
        objectives: Objectives | dict[str, Any] | None = None,
    ) -> Skill:
        """The task's latest skill, or a freshly seeded one (not yet stored) when none is.

        ``objectives`` given explicitly replace the stored skill's (a run's goals may move).
        """
        skill = self.latest(surface, stage)
        if skill is None:
            return seed_skill(surface, stage, objectives=objectives)
        if objectives is not None:
            skill = skill.model_copy(update={"objectives": Objectives.coerce(objectives)})
        return skill

    # ---------------------------------------------------------------- writing

    def put(self, skill: Skill, note: str) -> Skill:
        """Store ``skill`` as the task's next version (with ``note`` in its changelog)."""
        ns = _namespace(skill.surface, skill.stage)
        versions = self.versions(skill.surface, skill.stage)
        version = (versions[-1] if versions else 0) + 1
        stored = skill.model_copy(
            update={
                "version": version,
                "updated_at": _now(),
                "changelog": [*skill.changelog, f"{_now()} v{version}: {note}"],
            }
        )
        self.store.put(ns, f"v{version:04d}", json.loads(stored.model_dump_json()))
        self.store.put(ns, "latest", {"version": version})
        return stored

    # ---------------------------------------------------------------- export

    def export_markdown(self, task: str | None = None) -> str:
        """The latest version of every task's skill (or of ``task``) as Markdown."""
        tasks = [task] if task else self.tasks()
        parts = ["# Skillhub", ""]
        if not tasks:
            parts.append("_No skills stored yet._")
        for name in tasks:
            surface, _, stage = name.rpartition("/")
            skill = self.latest(surface, stage)
            if skill is None:
                raise ConfigError(f"no skill stored for task {name!r}")
            parts.append(skill_to_markdown(skill, level=2))
        return "\n".join(parts).rstrip() + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def skill_to_markdown(skill: Skill, *, level: int = 1) -> str:
    """One skill as readable Markdown."""
    h = "#" * level
    lines = [
        f"{h} Skill `{skill.task}` — version {skill.version}",
        "",
        f"_Updated {skill.updated_at}._",
        "",
        f"{h}# Task context",
        "",
        skill.context or "_(none)_",
        "",
        f"{h}# North-star metrics and guardrail floors",
        "",
        skill.objectives.describe(),
        "",
        f"{h}# Requirements: search space",
        "",
        "| field | low | high | type | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for pointer, bound in sorted(skill.search_space.items()):
        lines.append(
            f"| `{pointer}` | {_fmt(bound.low)} | {_fmt(bound.high)} | {bound.kind} | "
            f"{bound.description.replace('|', '/')} |"
        )
    lines += ["", f"{h}# Requirements: limits", ""]
    lines += [f"- {k}: {v}" for k, v in skill.limits.items()] or ["_(none)_"]
    lines += ["", f"{h}# Domain knowledge", ""]
    lines += [f"- {k.text} _({k.source})_" for k in skill.knowledge] or ["_(none)_"]
    lines += ["", f"{h}# Elite configurations (Pareto set)", ""]
    if skill.elites:
        metrics = list(skill.objectives.directions)
        lines.append("| arm | " + " | ".join(metrics) + " | score | delta |")
        lines.append("| --- | " + " | ".join("---" for _ in metrics) + " | --- | --- |")
        for e in skill.elites:
            lifts = " | ".join(f"{e.lifts.get(m, float('nan')):+.2%}" for m in metrics)
            delta = ", ".join(f"`{op['path']}`={_fmt(op.get('value'))}" for op in e.delta)
            score = "—" if e.score is None else f"{e.score:+.4f}"
            lines.append(f"| {e.arm} | {lifts} | {score} | {delta or '(initial)'} |")
    else:
        lines.append("_(none yet)_")
    lines += ["", f"{h}# Learned field effects", ""]
    if skill.field_effects:
        for pointer, moves in sorted(skill.field_effects.items()):
            parts = []
            for move, scores in sorted(moves.items()):
                finite = [s for s in scores if s is not None and s > -1e9]
                mean = sum(finite) / len(finite) if finite else float("nan")
                parts.append(f"{move}: {len(scores)} test(s), mean score {mean:+.4f}")
            lines.append(f"- `{pointer}` — " + "; ".join(parts))
    else:
        lines.append("_(none yet)_")
    lines += ["", f"{h}# Initial configuration", "", "```json"]
    lines += [json.dumps(skill.initial_config, indent=2, default=str), "```", ""]
    lines += [f"{h}# Tools", ""] + [f"- {t}" for t in skill.tools]
    lines += ["", f"{h}# Changelog", ""] + [f"- {c}" for c in skill.changelog] + [""]
    return "\n".join(lines)


@contextlib.contextmanager
def open_skillhub(path: str | Path) -> Iterator[Skillhub]:
    """A :class:`Skillhub` on a SQLite store at ``path`` (created when missing)."""
    from langgraph.store.sqlite import SqliteStore

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    try:
        store = SqliteStore(conn)
        store.setup()
        yield Skillhub(store)
    finally:
        conn.close()
