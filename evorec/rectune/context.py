"""What the agents see: the prompts (``prompts/*.md``) and the task rendered as Markdown.

The Actor's context holds, in this order: the task, the metric directions and guardrail
floors, the search space (bounds, base and initial values), domain knowledge, patterns
learned in earlier tests, the elite (Pareto) configurations so far, the configurations
already tested, the Critic's feedback on the last round, and the base and initial
configurations of the stage.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from evorec.rectune.skillhub import Skill
from evorec.rectune.space import read_value

__all__ = ["ActorTask", "load_prompt", "render_actor_prompt", "render_results", "stage_key"]


def stage_key(stage: str) -> str:
    """The configuration's key of a stage: ``pre-ranking`` → ``pre_ranking``."""
    return stage.replace("-", "_")


@cache
def _prompt_text(name: str) -> str:
    return resources.files("evorec.rectune").joinpath("prompts", f"{name}.md").read_text("utf-8")


def load_prompt(name: str, **values: Any) -> str:
    """Prompt ``prompts/<name>.md`` with ``$placeholders`` filled from ``values``."""
    return string.Template(_prompt_text(name)).safe_substitute(
        {k: str(v) for k, v in values.items()}
    )


@dataclass
class ActorTask:
    """Everything the Actor proposes from (one round)."""

    skill: Skill
    """The task's skill: search space, objectives, knowledge, initial config, elites."""
    base_config: dict[str, Any]
    """Configuration the deltas are written against (the best so far, else the initial)."""
    n: int
    """How many candidates to propose."""
    round: int = 0
    """Round number (0-based)."""
    tested: list[dict[str, Any]] = field(default_factory=list)
    """Arms tested so far in this run: ``config``, ``hypothesis``, ``lifts``, ``score``, ``feasible``."""
    feedback: list[str] = field(default_factory=list)
    """The Critic's justifications for the last round's dropped candidates."""
    error: str | None = None
    """The Actor's own last error (a malformed answer), for repair."""

    @property
    def stage(self) -> str:
        return self.skill.stage


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value)


def _lifts(lifts: dict[str, Any], metrics: list[str]) -> str:
    parts = []
    for m in metrics:
        v = lifts.get(m)
        parts.append(f"{m} {v:+.2%}" if isinstance(v, int | float) else f"{m} n/a")
    return ", ".join(parts)


def render_results(tested: list[dict[str, Any]], skill: Skill, *, limit: int = 12) -> str:
    """Tested arms as Markdown lines (the newest ``limit``)."""
    metrics = list(skill.objectives.directions)
    lines = []
    for arm in tested[-limit:]:
        changes = ", ".join(
            f"`{p}` {_fmt(old)}→{_fmt(new)}" for p, (old, new) in (arm.get("changes") or {}).items()
        )
        status = "feasible" if arm.get("feasible") else f"breached {arm.get('breaches')}"
        score = arm.get("score")
        score_text = "-inf" if score is None else f"{score:+.4f}"
        lines.append(
            f"- {arm.get('arm')}: {changes or '(no change)'} — {_lifts(arm.get('lifts') or {}, metrics)}"
            f"; score {score_text}; {status}"
        )
    return "\n".join(lines) or "_(none yet)_"


def _patterns(skill: Skill) -> str:
    lines = []
    for pointer, moves in sorted(skill.field_effects.items()):
        for move, scores in sorted(moves.items()):
            finite = [s for s in scores if s is not None and s > -1e9]
            breached = len(scores) - len(finite)
            mean = sum(finite) / len(finite) if finite else None
            text = f"mean score {mean:+.4f}" if mean is not None else "no feasible test"
            lines.append(
                f"- {move} `{pointer}`: {len(scores)} test(s), {text}"
                + (f", {breached} breached a floor" if breached else "")
            )
    return "\n".join(lines) or "_(none yet)_"


def render_actor_prompt(task: ActorTask) -> tuple[str, str]:
    """(system, user) messages of the Actor."""
    skill = task.skill
    metrics = list(skill.objectives.directions)
    system = load_prompt("actor", n=task.n, stage=skill.stage)
    rows = [
        "| field | low | high | base | initial | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for pointer, b in skill.search_space.items():
        rows.append(
            f"| `{pointer}` | {_fmt(b.low)} | {_fmt(b.high)} | "
            f"{_fmt(read_value(task.base_config, pointer))} | "
            f"{_fmt(read_value(skill.initial_config, pointer))} | {b.description} |"
        )
    elites = []
    for e in skill.elites:
        delta = ", ".join(f"`{op['path']}`={_fmt(op.get('value'))}" for op in e.delta)
        elites.append(f"- {e.arm}: {delta or '(initial)'} — {_lifts(e.lifts, metrics)}")
    key = stage_key(skill.stage)
    parts = [
        f"# Task (round {task.round + 1})",
        "",
        skill.context,
        "",
        "# Objectives: north-star metrics, directions, guardrail floors",
        "",
        skill.objectives.describe(),
        "",
        "# Search space",
        "",
        *rows,
        "",
        "# Domain knowledge",
        "",
        "\n".join(f"- {k}" for k in skill.knowledge_lines()) or "_(none)_",
        "",
        "# Learned patterns (effect of moving each field in earlier A/B tests)",
        "",
        _patterns(skill),
        "",
        "# Elite (Pareto) configurations so far (lifts vs the initial configuration)",
        "",
        "\n".join(elites) or "_(none yet)_",
        *(
            [
                "",
                "_These elites come from an earlier run: their lifts are stale (another "
                "population, and inflated by having been selected on them); they never compete "
                "with this run's read-outs. The best is re-tested in round 1 unless "
                "re-tests are switched off (retest_elites=0)._",
            ]
            if task.round == 0 and skill.elites and not task.tested
            else []
        ),
        "",
        "# Tested in this run",
        "",
        render_results(task.tested, skill),
        "",
        "# Critic's feedback on the last round",
        "",
        "\n".join(f"- {f}" for f in task.feedback) or "_(none)_",
        "",
        f"# Base configuration of the {skill.stage} stage (your deltas apply to the whole "
        "configuration)",
        "",
        "```json",
        json.dumps({key: task.base_config.get(key)}, indent=2),
        "```",
        "",
        f"# Initial configuration of the {skill.stage} stage",
        "",
        "```json",
        json.dumps({key: skill.initial_config.get(key)}, indent=2),
        "```",
    ]
    if task.error:
        parts += ["", "# Your last answer was refused", "", task.error]
    parts += ["", f"Propose exactly {task.n} candidates now."]
    return system, "\n".join(parts)
