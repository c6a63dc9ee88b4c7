"""`evorec surfaces`, `evorec simulate`, `evorec ab` from the command line."""

from __future__ import annotations

import json

import duckdb
from click.testing import CliRunner

from evorec.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_surfaces_lists_every_builtin_with_parameters():
    out = run("surfaces")
    assert out.exit_code == 0
    for name in ("home_feed", "watch_next", "shorts"):
        assert name in out.output
    data = json.loads(run("surfaces", "--json").output)
    assert {d["name"] for d in data} >= {"home_feed", "watch_next", "shorts"}
    one = run("surfaces", "--name", "shorts")
    assert "slate_size" in one.output and "return_slope" in one.output


def test_simulate_writes_the_database_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "logs.duckdb"
    res = run(
        "simulate",
        "--surface",
        "watch_next",
        "--users",
        "50",
        "--days",
        "1",
        "--seed",
        "1",
        "--out",
        str(out),
        "--json",
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    con = duckdb.connect(str(out), read_only=True)
    assert con.execute("SELECT count(*) FROM impressions").fetchone()[0] == summary["impressions"]
    con.close()
    again = run(
        "simulate", "--surface", "watch_next", "--users", "50", "--days", "1", "--out", str(out)
    )
    assert again.exit_code == 2 and "already exists" in again.output


def test_simulate_bad_input_exit_code_2(tmp_path):
    for args, message in [
        (("--surface", "nope", "--users", "5", "--days", "1"), "unknown surface"),
        (("--surface", "home_feed", "--users", "0", "--days", "1"), "users"),
        (("--surface", "home_feed", "--users", "5", "--days", "0"), "days"),
    ]:
        res = run("simulate", *args, "--out", str(tmp_path / "x.duckdb"))
        assert res.exit_code == 2 and message in res.output
    assert not (tmp_path / "x.duckdb").exists()


def test_ab_prints_a_readout_and_json(tmp_path):
    res = run(
        "ab",
        "--surface",
        "home_feed",
        "--control",
        "random",
        "--treatment",
        "logging",
        "--users",
        "600",
        "--days",
        "2",
        "--json",
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["complete"] and data["metrics"]["active_days"]["n_treatment"] > 0
    text = run(
        "ab",
        "--surface",
        "home_feed",
        "--control",
        "random",
        "--treatment",
        "logging",
        "--users",
        "600",
        "--days",
        "2",
    )
    assert "active_days *" in text.output and "SRM" in text.output


def test_ab_bad_input_exit_code_2():
    for args, message in [
        (("--traffic-fraction", "1.2"), "traffic_fraction"),
        (("--guardrail", "daily_active_rate"), "METRIC=MAX_DROP"),
        (("--guardrail", "nope=0.1"), "unknown guardrail metric"),
    ]:
        res = run(
            "ab",
            "--surface",
            "home_feed",
            "--control",
            "random",
            "--treatment",
            "logging",
            "--users",
            "50",
            "--days",
            "1",
            *args,
        )
        assert res.exit_code == 2 and message in res.output, res.output
    res = run("ab", "--surface", "home_feed", "--control", "bogus", "--treatment", "logging")
    assert res.exit_code == 2 and "unknown policy" in res.output
