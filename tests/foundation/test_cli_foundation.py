"""The CLI's foundation commands: config, delta, and a light `--help`."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from evorec.cli import main
from evorec.ranker.schema import PRODUCTION_BASELINE, baseline_phi


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_config_show_prints_the_baseline():
    result = run("config", "show")
    assert result.exit_code == 0
    assert json.loads(result.output) == baseline_phi().to_json()


def test_config_schema_is_a_json_schema():
    schema = json.loads(run("config", "schema").output)
    assert schema["title"] == "Phi"
    assert set(schema["properties"]) == {
        "optimizer",
        "architecture",
        "reward",
        "training",
        "constraints",
    }


def test_delta_apply_and_diff(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(PRODUCTION_BASELINE))
    patch = tmp_path / "patch.json"
    patch.write_text(
        json.dumps([{"op": "replace", "path": "/optimizer/algorithm", "value": "rmsprop"}])
    )
    result = run("delta", "apply", str(base), str(patch))
    assert result.exit_code == 0
    new = json.loads(result.output)
    assert new["optimizer"]["algorithm"] == "rmsprop"

    new_file = tmp_path / "new.json"
    new_file.write_text(result.output)
    result = run("delta", "diff", str(base), str(new_file))
    assert json.loads(result.output) == [
        {"op": "replace", "path": "/optimizer/algorithm", "value": "rmsprop"}
    ]
    rendered = run("delta", "diff", "--render", str(base), str(new_file)).output
    assert rendered.strip() == '~ /optimizer/algorithm: "adagrad" → "rmsprop"'


def test_delta_apply_errors_exit_2_and_name_the_problem(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps(PRODUCTION_BASELINE))
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps([{"op": "add", "path": "/optimizer/made_up", "value": 1}]))
    result = CliRunner().invoke(main, ["delta", "apply", str(base), str(patch)])
    assert result.exit_code == 2
    assert "made_up" in result.output and "Extra inputs" in result.output

    patch.write_text("[{not json")
    result = CliRunner().invoke(main, ["delta", "apply", str(base), str(patch)])
    assert result.exit_code == 2 and "not valid JSON" in result.output

    result = CliRunner().invoke(
        main, ["delta", "apply", str(tmp_path / "missing.json"), str(patch)]
    )
    assert result.exit_code == 2 and "not found" in result.output


def test_help_imports_no_heavy_library():
    """`evorec --help` stays fast because nothing heavy is imported (checked, not timed)."""
    code = (
        "import sys; from click.testing import CliRunner; from evorec.cli import main;"
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output;"
        "heavy = [m for m in ('torch', 'tensorflow', 'langchain_core', 'langgraph', 'recsim_ng', 'duckdb')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
