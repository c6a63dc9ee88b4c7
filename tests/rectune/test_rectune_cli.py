"""``evorec rectune``: bad input exits 2 with a clear error; a run and the Skillhub export."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from evorec.cli import main


@pytest.mark.parametrize(
    "args",
    [
        ["--surface", "nope", "--stage", "ranking", "--rounds", "1"],
        ["--stage", "ranking", "--rounds", "1"],
        ["--surface", "home_feed", "--stage", "middle", "--rounds", "1"],
        ["--surface", "home_feed", "--stage", "ranking", "--rounds", "0"],
        ["--surface", "home_feed", "--stage", "ranking", "--rounds", "1", "--floor", "foo=1"],
        ["--surface", "home_feed", "--stage", "ranking", "--rounds", "1", "--floor", "x"],
        ["--surface", "home_feed", "--stage", "ranking", "--rounds", "1", "--model", "builtin:x"],
        ["--surface", "home_feed", "--stage", "ranking", "--rounds", "1", "--users", "0"],
        ["--export-skills"],
    ],
)
def test_bad_input_exits_2(args, tmp_path):
    result = CliRunner().invoke(main, ["rectune", *args, "--workdir", str(tmp_path / "w")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "rror" in result.output


def test_run_then_export(tmp_path, fake_ab):
    work = str(tmp_path / "w")
    args = [
        "rectune",
        "--surface",
        "home_feed",
        "--stage",
        "ranking",
        "--rounds",
        "2",
        "--proposals",
        "2",
        "--users",
        "500",
        "--days",
        "1",
        "--workdir",
        work,
        "--floor",
        "active_days=-2%",
        "--json",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["arms_used"] == 4 and data["pareto"]
    assert data["skill_versions"] == [1, 2]
    export = CliRunner().invoke(main, ["rectune", "--export-skills", "--workdir", work])
    assert export.exit_code == 0
    assert "## Skill `home_feed/ranking` — version 2" in export.output
    assert "relative lift ≥ -2.0%" in export.output
