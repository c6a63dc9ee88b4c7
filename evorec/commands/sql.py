"""``evorec sql``: run one query over logged data through the agents' SQL guard."""

from __future__ import annotations

import click

from evorec.commands._io import echo_json


@click.command()
@click.option(
    "--data",
    "db_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Logged-data DuckDB file (written by `evorec simulate`).",
)
@click.option(
    "--max-rows",
    default=50,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="Most rows to print; the footer says when more exist.",
)
@click.option(
    "--timeout",
    "timeout_s",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.01, 3600),
    help="Wall-clock limit in seconds; the query is interrupted after it.",
)
@click.option("--memory-limit", default="512MB", show_default=True, help="DuckDB memory limit.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("query")
def sql(
    db_path: str, max_rows: int, timeout_s: float, memory_limit: str, as_json: bool, query: str
) -> None:
    """Run QUERY (one read-only SELECT) exactly as an agent's run_sql_query would.

    The query is parsed and checked (no writes, files, settings or tables outside the logged
    data), then run on a read-only, locked-down connection with a timeout. A refusal prints
    `error: [code] reason` and exits with status 2.
    """
    from evorec.tools.sandbox import run_sql_query

    result = run_sql_query(
        db_path, query, max_rows=max_rows, timeout_s=timeout_s, memory_limit=memory_limit
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.to_text())
