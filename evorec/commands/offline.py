"""``evorec offline``: the offline agent (think → code → verify → tool → judge → journal)."""

from __future__ import annotations

import secrets
from typing import Any

import click

from evorec.commands._io import echo_json

_PERSONAS = ("optimizer", "architecture", "reward", "all")
_HISTORY = ("sorted", "topk", "unsorted", "none")


def _seeds(text: str) -> tuple[int, ...]:
    from evorec.errors import ConfigError

    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--proxy-seeds must be comma-separated integers, not {text!r}") from None
    if not seeds:
        raise ConfigError("--proxy-seeds needs at least one seed")
    return seeds


def _line(last: dict[str, Any]) -> str:
    imp = last.get("improvement")
    score = "" if imp is None else f" improvement {imp:+.4g}"
    tool = f" [{last['tool']}]" if last.get("tool") else ""
    repairs = (
        f" ({last['repairs']} repair{'s' if last['repairs'] != 1 else ''})"
        if last.get("repairs")
        else ""
    )
    text = (
        f"#{last['iteration']} {last['persona']:<12} {last['experiment_id']} "
        f"{last['status']}{tool}{score}{repairs}: {last['hypothesis'][:100]}"
    )
    if last.get("error"):
        text += f"\n    error: {last['error'][:300]}"
    return text


@click.command()
@click.option(
    "--persona",
    type=click.Choice(_PERSONAS),
    default="all",
    show_default=True,
    help="Persona proposing; 'all' rotates optimizer → architecture → reward.",
)
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    required=True,
    help="Proposals to make (each becomes one journal record).",
)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Logged data (DuckDB from `evorec simulate`).",
)
@click.option(
    "--journal",
    "journal_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Experiment Journal (DuckDB; created if missing).",
)
@click.option(
    "--model",
    default="builtin",
    show_default=True,
    help="builtin | random | optuna | gemini[:model] | provider:model (a LangChain chat model).",
)
@click.option(
    "--workdir",
    default="runs",
    show_default=True,
    help="Holds the production registry (production.json) and the checkpoints.",
)
@click.option("--surface", default="home_feed", show_default=True)
@click.option(
    "--history",
    "history_mode",
    type=click.Choice(_HISTORY),
    default="sorted",
    show_default=True,
    help="Journal history shown to the proposer.",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Experiments shown with --history topk.",
)
@click.option("--max-repairs", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--proxy-seeds", default="0,1,2", show_default=True, help="compute_loss seeds.")
@click.option(
    "--proxy-budget",
    type=click.IntRange(min=1),
    default=None,
    help="compute_loss training steps per seed (default: the proxy's own).",
)
@click.option("--steering", default=None, help="Instructions for the prompt's Steering section.")
@click.option("--no-promote", is_flag=True, help="Keep proxy winners out of the online queue.")
@click.option("--max-promotions", type=click.IntRange(min=0), default=3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--thread",
    "thread_id",
    default=None,
    help="Checkpoint thread; give a stopped run's id to resume it (default: a new one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def offline(
    proxy_seeds: str,
    no_promote: bool,
    thread_id: str | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Run the offline agent: personas propose deltas to Φ, check them on cheap proxies,
    journal every proposal and promote significant winners to the online queue.

    Resumes a stopped run with --thread ID (the id is printed at the start).
    """
    from evorec.graphs.offline import run_offline
    from evorec.graphs.offline_nodes import prepare
    from evorec.graphs.offline_state import OfflineContext

    ctx = OfflineContext(proxy_seeds=_seeds(proxy_seeds), promote=not no_promote, **kwargs)
    thread_id = thread_id or f"offline-{secrets.token_hex(4)}"
    prepare(ctx, thread_id=thread_id)  # a bad model name or a missing API key fails here
    click.echo(f"thread {thread_id} · model {ctx.model} · persona {ctx.persona}", err=as_json)

    def report(last: dict[str, Any]) -> None:
        click.echo(_line(last), err=as_json)

    result = run_offline(ctx, thread_id=thread_id, on_iteration=report)
    summary = result["summary"]
    if as_json:
        echo_json(summary)
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary["by_status"].items())) or "none"
    click.echo(f"{summary['proposals']}/{summary['budget']} proposals: {counts}")
    best = summary["best"]
    if best is not None:
        click.echo(
            f"best: {best['experiment_id']} ({best['persona']}) improvement "
            f"{best['improvement']:+.4g} {best['status']}: {best['hypothesis'][:100]}"
        )
    promoted = summary["promoted"]
    click.echo(f"promoted to the online queue: {', '.join(promoted) if promoted else 'none'}")
