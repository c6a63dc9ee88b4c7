"""``evorec rectune``: AgenticRecTune — Actor, Critic, Online, Insight and Skill agents tuning the
score fusion of one pipeline stage, learning into the Skillhub."""

from __future__ import annotations

import secrets
from typing import Any

import click

from evorec.commands._io import echo_json

_STAGES = ("pre-ranking", "ranking", "re-ranking")


def _lifts(lifts: dict[str, Any] | None, metrics: list[str]) -> str:
    lifts = lifts or {}
    return "  ".join(
        f"{m} {lifts[m]:+.2%}" if isinstance(lifts.get(m), int | float) else f"{m} n/a"
        for m in metrics
    )


def _round_line(report: dict[str, Any]) -> str:
    return f"round {report['round'] + 1}: {report['summary']}"


def _objectives(floors: tuple[str, ...], budget: int | None) -> dict[str, Any] | None:
    from evorec.rectune.objectives import Objectives, parse_floor

    if not floors:
        return None
    base = Objectives().model_dump()
    base["floors"] = dict(parse_floor(f) for f in floors)
    if budget is not None:
        base["budget"] = budget
    return Objectives.coerce(base).model_dump()


@click.command()
@click.option("--surface", default=None, help="Surface name (evorec surfaces) or JSON/YAML file.")
@click.option("--stage", type=click.Choice(_STAGES), default=None, help="Pipeline stage to tune.")
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Rounds to run.")
@click.option(
    "--model",
    default=None,
    help="Actor back-end: builtin (search heuristic, no network), random, optuna, "
    "gemini[:model] or provider:model. Default: EVOREC_MODEL, else builtin.",
)
@click.option(
    "--workdir",
    default="runs/rectune",
    show_default=True,
    help="Holds results.jsonl, skillhub.sqlite and the checkpoints.",
)
@click.option(
    "--proposals",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Candidates per round (arms per experiment).",
)
@click.option("--users", type=int, default=3000, show_default=True, help="Users per experiment.")
@click.option("--days", type=int, default=3, show_default=True, help="Days per experiment.")
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=None,
    help="Cost budget: A/B arms in all (default rounds × proposals).",
)
@click.option(
    "--floor",
    "floors",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Guardrail floor as a relative lift vs control, e.g. active_days=-1%% (repeatable; "
    "replaces the default floors).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Experiment and search seed.")
@click.option("--thread", default=None, help="Thread id (resume it); default a new one.")
@click.option("--no-skillhub", is_flag=True, help="Start from a fresh skill, not the stored one.")
@click.option(
    "--retest-elites",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="In a warm run, re-test this many carried elites in round 1 (their stored evidence "
    "is from an earlier population and carries winner's curse); each costs one arm.",
)
@click.option("--review", is_flag=True, help="Ask for approval before each experiment goes live.")
@click.option(
    "--export-skills",
    is_flag=True,
    help="Print the Skillhub (of --surface/--stage, or all) as Markdown and exit.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def rectune(
    surface: str | None,
    stage: str | None,
    rounds: int | None,
    model: str | None,
    workdir: str,
    proposals: int,
    users: int,
    days: int,
    budget: int | None,
    floors: tuple[str, ...],
    seed: int,
    thread: str | None,
    no_skillhub: bool,
    retest_elites: int,
    review: bool,
    export_skills: bool,
    as_json: bool,
) -> None:
    """Tune one pipeline stage's score fusion with the AgenticRecTune agents.

    Each round the Actor proposes candidates, the Critic keeps or drops them by explicit
    rules, the survivors run as one multi-arm simulated A/B test against the initial
    configuration, the Insight agent keeps the Pareto set and the Skill agent writes what
    was learned into the Skillhub (WORKDIR/skillhub.sqlite), which later runs of the same
    task start from. Results: WORKDIR/results.jsonl.
    """
    from pathlib import Path

    from evorec.errors import ConfigError

    if export_skills:
        from evorec.rectune.skillhub import open_skillhub, task_key

        path = Path(workdir) / "skillhub.sqlite"
        if not path.is_file():
            raise ConfigError(f"no Skillhub at {path} (run `evorec rectune` first)")
        with open_skillhub(path) as hub:
            task = task_key(surface, stage) if surface and stage else None
            text = hub.export_markdown(task)
        if as_json:
            echo_json({"markdown": text})
        else:
            click.echo(text, nl=False)
        return
    missing = [
        name
        for name, v in (("--surface", surface), ("--stage", stage), ("--rounds", rounds))
        if not v
    ]
    if missing:
        raise ConfigError(f"missing option(s) {', '.join(missing)} (or use --export-skills)")

    from evorec.graphs.rectune import run_rectune
    from evorec.graphs.rectune_state import RecTuneContext

    settings: dict[str, Any] = {
        "surface": surface,
        "stage": stage,
        "rounds": rounds,
        "proposals": proposals,
        "users": users,
        "days": days,
        "budget": budget,
        "workdir": workdir,
        "seed": seed,
        "use_skillhub": not no_skillhub,
        "retest_elites": retest_elites,
        "review": review,
        "objectives": _objectives(floors, budget),
    }
    if model:
        settings["model"] = model
    context = RecTuneContext(**settings)
    thread_id = thread or f"rt-{secrets.token_hex(3)}"
    on_round = None if as_json else (lambda report: click.echo(_round_line(report), err=True))
    result = run_rectune(context, thread_id=thread_id, on_round=on_round)
    while result.get("interrupt") is not None:
        payload = result["interrupt"]
        for c in payload.get("candidates", []):
            click.echo(f"  [{c['index']}] {c['hypothesis']}", err=True)
        answer = click.prompt(
            "approve which (all / none / comma-separated indices)", default="all", err=True
        )
        text = answer.strip().lower()
        value: Any = (
            True
            if text == "all"
            else False
            if text == "none"
            else [int(x) for x in text.split(",") if x.strip()]
        )
        result = run_rectune(context, thread_id=thread_id, resume=value, on_round=on_round)
    summary = result["summary"]
    if as_json:
        echo_json({**summary, "pareto_evidence": result.get("pareto") or []})
        return
    metrics = summary["metrics"]
    click.echo(
        f"thread {summary['thread_id']}: {summary['surface']}/{summary['stage']}, "
        f"{summary['rounds']} round(s), {summary['arms_used']} A/B arm(s) "
        f"({summary['arms_infeasible']} breached a floor or were stopped)"
    )
    click.echo("Pareto set (lifts vs the initial configuration):")
    for p in summary["pareto"]:
        score = "" if p["score"] is None else f" score {p['score']:+.4f}"
        changes = ", ".join(f"{op['path']}={op.get('value')}" for op in p["changes_from_initial"])
        click.echo(f"  {p['arm']:<24}{score}  {_lifts(p['lifts'], metrics)}")
        click.echo(f"      {changes or '(initial configuration)'}")
    versions = summary["skill_versions"]
    if versions:
        click.echo(f"Skillhub: wrote version(s) {', '.join(map(str, versions))}")
    click.echo(f"results: {summary['results_path']}")
