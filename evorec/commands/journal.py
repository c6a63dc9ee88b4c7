"""``evorec journal show|export|import``: the Experiment Journal as a table, JSON or a file."""

from __future__ import annotations

import click

from evorec.commands._io import echo_json

_JOURNAL = click.option(
    "--journal",
    "journal_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Experiment Journal (DuckDB file).",
)


def _existing(path: str):
    from pathlib import Path

    from evorec.errors import ConfigError
    from evorec.journal import Journal

    if not Path(path).is_file():
        raise ConfigError(f"journal not found: {path}")
    return Journal(path)


@click.group()
def journal() -> None:
    """The Experiment Journal shared by the offline and online loops."""


@journal.command()
@_JOURNAL
@click.option("--status", "statuses", multiple=True, help="Only these statuses (repeatable).")
@click.option("--surface", default=None, help="Only this surface.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
def show(journal_path: str, statuses: tuple[str, ...], surface: str | None, as_json: bool) -> None:
    """List experiments: id, status, who, proxy improvement, hypothesis and delta."""
    from evorec.delta import render_delta
    from evorec.errors import EvorecError

    records = _existing(journal_path).records(status=list(statuses) or None, surface=surface)
    if as_json:
        echo_json([r.to_dict() for r in records])
        return
    if not records:
        click.echo("(no experiments)")
        return
    click.echo(f"{'id':<18} {'status':<13} {'who':<13} {'improvement':>12}  hypothesis / delta")
    for r in records:
        imp = "" if r.improvement is None else f"{r.improvement:+.4g}"
        hyp = r.hypothesis if len(r.hypothesis) <= 70 else r.hypothesis[:69] + "…"
        click.echo(
            f"{r.id:<18} {r.status.value:<13} {(r.persona or r.author)[:13]:<13} {imp:>12}  {hyp}"
        )
        try:
            rendered = render_delta(r.delta)
        except EvorecError:
            rendered = str(r.delta)
        for line in rendered.splitlines():
            click.echo(f"{'':<60}{line}")
        if r.error:
            click.echo(f"{'':<60}error: {r.error}")


@journal.command()
@_JOURNAL
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="JSON-lines file to write.",
)
def export(journal_path: str, out_path: str) -> None:
    """Write every experiment with its event history as JSON lines (a warm-start file)."""
    n = _existing(journal_path).export(out_path)
    click.echo(f"exported {n} experiment{'s' if n != 1 else ''} to {out_path}")


@journal.command("import")
@_JOURNAL
@click.argument("file", type=click.Path(dir_okay=False))
def import_(journal_path: str, file: str) -> None:
    """Warm start: add prior experiments from JSON lines or a JSON list (idempotent)."""
    from pathlib import Path

    from evorec.errors import ConfigError
    from evorec.journal import Journal

    if not Path(file).is_file():
        raise ConfigError(f"warm-start file not found: {file}")
    n = Journal(journal_path).import_file(file)
    click.echo(f"imported {n} new experiment{'s' if n != 1 else ''} into {journal_path}")
