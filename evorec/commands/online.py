"""``evorec online | propose | approve | status``: the online agent from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from evorec.commands._io import echo_json, read_json_file

_WORKDIR_HELP = "Artifacts, A/B state, checkpoints and the production registry live here."


def _context(**kwargs: Any):
    from evorec.graphs.online_state import OnlineContext

    return OnlineContext(**{k: v for k, v in kwargs.items() if v is not None})


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    from evorec.ranker.schema import phi_hash

    if as_json:
        echo_json(result)
        return
    for exp_id in result.get("completed") or []:
        click.echo(f"finished {exp_id}")
    outcome = result.get("outcome")
    if outcome:
        summary = (outcome.get("decision") or {}).get("summary") or outcome.get("error") or ""
        click.echo(f"last: {outcome['experiment_id']} → {outcome['status']}  {summary}")
    for question in result.get("__interrupt__") or []:
        click.echo(
            f"waiting for approval of {question['experiment_id']}: {question['hypothesis']}\n"
            f"{question['delta']}\n→ evorec approve {question['experiment_id']} (or --reject)"
        )
    if "production" in result:
        click.echo(
            f"production: v{result['production']['version']} ({phi_hash(result['production']['phi'])})"
        )


@click.command()
@click.option("--journal", "journal_path", required=True, type=click.Path(dir_okay=False))
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--surface", default="home_feed", show_default=True)
@click.option("--workdir", default="runs", show_default=True, help=_WORKDIR_HELP)
@click.option("--users", type=click.IntRange(min=2), default=2000, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--traffic", "traffic_fraction", type=float, default=0.5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--train-steps", type=click.IntRange(min=1), default=None)
@click.option("--max-experiments", type=click.IntRange(min=1), default=None)
@click.option("--approve-before-live", is_flag=True, help="Pause for `evorec approve` before LIVE.")
@click.option(
    "--thread", "thread_id", default="online", show_default=True, help="Checkpoint thread."
)
@click.option("--json", "as_json", is_flag=True)
def online(thread_id: str, as_json: bool, **kwargs: Any) -> None:
    """Work through the online queue: VALIDATED → TRAINING → LIVE → COMPLETED.

    Resumes the thread where it stopped if a previous run was killed.
    """
    from evorec.graphs.online import run_online
    from evorec.production import ProductionRegistry

    if not 0 < kwargs["traffic_fraction"] < 1:
        from evorec.errors import ConfigError

        raise ConfigError("--traffic must lie strictly between 0 and 1")
    ctx = _context(**kwargs)
    result = run_online(ctx, thread_id=thread_id)
    result["production"] = ProductionRegistry(ctx.registry_path).current().model_dump()
    _print_result(result, as_json)


@click.command()
@click.argument("experiment_id")
@click.option("--reject", is_flag=True, help="Reject instead of approving.")
@click.option("--workdir", default="runs", show_default=True, help=_WORKDIR_HELP)
@click.option(
    "--journal", "journal_path", required=True, type=click.Path(dir_okay=False, exists=True)
)
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--surface", default="home_feed", show_default=True)
@click.option("--users", type=click.IntRange(min=2), default=2000, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--traffic", "traffic_fraction", type=float, default=0.5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--train-steps", type=click.IntRange(min=1), default=None)
@click.option("--thread", "thread_id", default="online", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def approve(experiment_id: str, reject: bool, thread_id: str, as_json: bool, **kwargs: Any) -> None:
    """Answer a pending approval before LIVE and continue the online run.

    Use the same options as the `evorec online --approve-before-live` run that paused.
    """
    from evorec.errors import ConfigError
    from evorec.graphs.online import open_online_graph, run_online

    ctx = _context(approve_before_live=True, **kwargs)
    config = {"configurable": {"thread_id": thread_id}}
    checkpoints = Path(ctx.workdir) / "checkpoints.sqlite"
    with open_online_graph(checkpoints) as app:
        pending = [i.value for i in app.get_state(config).interrupts]
    if not pending:
        raise ConfigError(f"no approval is pending on thread {thread_id!r} ({checkpoints})")
    waiting = pending[0]["experiment_id"]
    if waiting != experiment_id:
        raise ConfigError(f"thread {thread_id!r} is waiting for {waiting}, not {experiment_id}")
    result = run_online(ctx, thread_id=thread_id, resume="reject" if reject else "approve")
    _print_result(result, as_json)


@click.command()
@click.option("--journal", "journal_path", required=True, type=click.Path(dir_okay=False))
@click.option("--delta", "delta_path", required=True, type=click.Path(dir_okay=False))
@click.option("--hypothesis", required=True, help="Why this change should move the north star.")
@click.option("--surface", default="home_feed", show_default=True)
@click.option("--workdir", default="runs", show_default=True, help=_WORKDIR_HELP)
@click.option("--author", default="human", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def propose(
    journal_path: str,
    delta_path: str,
    hypothesis: str,
    surface: str,
    workdir: str,
    author: str,
    as_json: bool,
) -> None:
    """Queue a human candidate (an RFC 6902 delta against production Φ) for the online agent."""
    from evorec.graphs.online_queue import propose_candidate

    delta = read_json_file(delta_path, "delta")
    record = propose_candidate(
        journal_path, delta, hypothesis, surface=surface, workdir=workdir, author=author
    )
    if as_json:
        echo_json(record)
    else:
        click.echo(f"queued {record['id']} ({record['status']}): {hypothesis}")


@click.command()
@click.option(
    "--journal", "journal_path", required=True, type=click.Path(dir_okay=False, exists=True)
)
@click.option("--workdir", default="runs", show_default=True, help=_WORKDIR_HELP)
@click.option("--json", "as_json", is_flag=True)
def status(journal_path: str, workdir: str, as_json: bool) -> None:
    """Show the online queue, each experiment's phase, and what serves in production."""
    from evorec.graphs.online_queue import status_report

    report = status_report(journal_path, workdir)
    if as_json:
        echo_json(report)
        return
    prod = report["production"]
    click.echo(f"production: v{prod['version']} {prod['phi_hash']} ({prod['note']})")
    click.echo(f"queue ({len(report['queue'])}): " + (", ".join(report["queue"]) or "empty"))
    for row in report["experiments"]:
        click.echo(f"  {row['id']:<14} {row['status']:<15} {row['author']:<13} {row['summary']}")
