"""``evorec report``: an HTML report with PNG plots and a Markdown summary of a campaign."""

from __future__ import annotations

from pathlib import Path

import click

from evorec.commands._io import echo_json


@click.command()
@click.option(
    "--journal",
    "journal_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Experiment Journal (DuckDB file).",
)
@click.option(
    "--workdir",
    required=True,
    type=click.Path(file_okay=False),
    help="Working directory holding production.json (the production registry).",
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder to write into  [default: WORKDIR/report]",
)
@click.option("--title", default=None, help="Report title.")
@click.option("--json", "as_json", is_flag=True, help="Print the paths as JSON.")
def report(
    journal_path: str, workdir: str, out_dir: str | None, title: str | None, as_json: bool
) -> None:
    """Write report.html (plots embedded), summary.md and PNG plots of a campaign.

    The north star over launches, proxy against online result, the journal as a
    leaderboard, success per persona, every A/B read-out with its confidence interval, and
    the final production Φ as a delta from the starting one.
    """
    from evorec.report import write_report

    out = Path(out_dir) if out_dir is not None else Path(workdir) / "report"
    paths = write_report(journal_path, workdir, out, title=title)
    if as_json:
        echo_json(paths.to_dict())
        return
    click.echo(paths.headline)
    click.echo(f"html:     {paths.html}")
    click.echo(f"markdown: {paths.markdown}")
    for plot in paths.plots:
        click.echo(f"plot:     {plot}")
