"""`evorec sql`: the same guard from the command line; refusals exit 2 with the code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from evorec.cli import main

from .conftest import file_hash


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_sql_prints_a_table(fixture_db) -> None:
    result = run(
        "sql",
        "--data",
        str(fixture_db.path),
        "SELECT day, count(*) AS n FROM impressions GROUP BY day ORDER BY day",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split("|")[0].strip() == "day" and lines[0].split("|")[1].strip() == "n"
    per_day = fixture_db.impressions["user_id"].size // 3
    assert [ln.split("|")[1].strip() for ln in lines[2:5]] == [str(per_day)] * 3
    assert lines[-1] == "(3 rows)"


def test_sql_json_output(fixture_db) -> None:
    result = run(
        "sql",
        "--data",
        str(fixture_db.path),
        "--json",
        "--max-rows",
        "2",
        "SELECT user_id FROM users ORDER BY user_id",
    )
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert (
        data["rows"] == [[0], [1]] and data["truncated"] is True and data["columns"] == ["user_id"]
    )


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("DROP TABLE users", "write_operation"),
        ("SELECT * FROM read_csv('/etc/passwd')", "file_access"),
        ("SELECT * FROM journal", "table_not_allowed"),
        ("ATTACH '/tmp/x.duckdb'", "not_a_query"),
    ],
)
def test_sql_refusal_exits_2_with_the_code(fixture_db, sql: str, code: str) -> None:
    before = file_hash(fixture_db.path)
    result = run("sql", "--data", str(fixture_db.path), sql)
    assert result.exit_code == 2
    assert f"error: [{code}]" in result.output
    assert file_hash(fixture_db.path) == before


def test_sql_json_refusal(fixture_db) -> None:
    # The CLI looks for --json in sys.argv, so this one runs as a real process.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evorec.cli",
            "sql",
            "--data",
            str(fixture_db.path),
            "--json",
            "SET threads = 8",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["code"] == "not_a_query"
    assert proc.stderr.startswith("error: [not_a_query]")


def test_sql_missing_database(tmp_path) -> None:
    result = run("sql", "--data", str(tmp_path / "none.duckdb"), "SELECT 1")
    assert result.exit_code == 2 and "no logged-data database" in result.output


def test_sql_is_listed_in_help() -> None:
    result = run("--help")
    assert "sql" in result.output.split("Commands:")[1]
