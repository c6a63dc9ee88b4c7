"""``evorec offline``: bad input is a clear error with exit code 2; a small run prints a line
per iteration and a summary (JSON with --json)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from evorec.cli import main
from evorec.journal import Journal


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory):
    from evorec.ranker.data import write_synthetic_logs

    return write_synthetic_logs(tmp_path_factory.mktemp("cli") / "logs.duckdb", impressions=3_000)


def _args(tmp_path, logs, *extra: str) -> list[str]:
    return [
        "offline",
        "--data",
        str(logs),
        "--journal",
        str(tmp_path / "journal.duckdb"),
        "--workdir",
        str(tmp_path / "runs"),
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "nosuchmodel"], "unknown model name 'nosuchmodel'"),
        (["--model", "gemini"], "set GOOGLE_API_KEY"),
        (["--model", "openai:gpt-4.1"], "set OPENAI_API_KEY"),
        (["--model", "builtin:x"], "takes no model part"),
        (["--proxy-seeds", "a,b"], "--proxy-seeds"),
    ],
)
def test_bad_model_or_settings_exit_2_with_a_clear_error(
    tmp_path, logs, monkeypatch, extra, message
):
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(main, _args(tmp_path, logs, "--budget", "1", *extra))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "journal.duckdb").exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["--persona", "linter", "--budget", "1"],
        ["--budget", "0"],
        ["--history", "best", "--budget", "1"],
        [],  # --budget is required
    ],
)
def test_bad_options_exit_2(tmp_path, logs, extra):
    result = CliRunner().invoke(main, _args(tmp_path, logs, *extra))
    assert result.exit_code == 2, result.output


def test_missing_data_exits_2(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "offline",
            "--budget",
            "1",
            "--data",
            str(tmp_path / "no.duckdb"),
            "--journal",
            "j.duckdb",
        ],
    )
    assert result.exit_code == 2
    assert "no.duckdb" in result.output


def test_a_small_run_prints_lines_and_a_json_summary(tmp_path, logs):
    args = _args(
        tmp_path,
        logs,
        "--persona",
        "optimizer",
        "--budget",
        "2",
        "--proxy-seeds",
        "0,1",
        "--proxy-budget",
        "5",
        "--thread",
        "cli-run",
        "--json",
    )
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    records = Journal(tmp_path / "journal.duckdb").records()
    assert summary["proposals"] == 2 == len(records)
    assert summary["thread_id"] == "cli-run"
    assert sum(summary["by_status"].values()) == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("#")]
    assert [line.split()[2] for line in lines] == [r.id for r in records]
