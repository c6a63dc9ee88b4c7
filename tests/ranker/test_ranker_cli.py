"""`evorec train` and `evorec compute-loss`: results, exit 2 for bad input, nothing partial."""

from __future__ import annotations

import json
import sys

from click.testing import CliRunner

from evorec.cli import main
from evorec.ranker.artifact import load_artifact


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _write_phi(tmp_path, phi, name="phi.json"):
    path = tmp_path / name
    path.write_text(json.dumps(phi.to_json()))
    return str(path)


def test_train_writes_a_loadable_artifact(logs_path, phi, tmp_path):
    out = tmp_path / "models"
    result = run(
        "train",
        "--config",
        _write_phi(tmp_path, phi),
        "--data",
        str(logs_path),
        "--out",
        str(out),
        "--max-steps",
        "5",
        "--json",
    )
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    art = load_artifact(info["artifact"])
    assert art.phi == phi and info["metrics"]["steps"] == 5
    text = run(
        "train",
        "--config",
        "baseline",
        "--data",
        str(logs_path),
        "--out",
        str(out),
        "--max-steps",
        "2",
    )
    assert text.exit_code == 0 and "artifact:" in text.output


def test_compute_loss_json_and_baseline(logs_path, make_phi, tmp_path):
    phi = make_phi(("replace", "/optimizer", {"algorithm": "adam", "learning_rate": 0.003}))
    result = run(
        "compute-loss",
        "--config",
        _write_phi(tmp_path, phi),
        "--data",
        str(logs_path),
        "--seeds",
        "2",
        "--budget",
        "10",
        "--baseline",
        "baseline",
        "--json",
    )
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert len(d["loss"]["per_seed"]) == 2 and d["budget_steps"] == 10
    assert d["comparison"]["comparable"] is True
    text = run(
        "compute-loss",
        "--config",
        "baseline",
        "--data",
        str(logs_path),
        "--seeds",
        "1",
        "--budget",
        "3",
    )
    assert text.exit_code == 0 and "click AUC" in text.output


def test_bad_inputs_exit_2_and_write_nothing(logs_path, phi, make_phi, tmp_path):
    out = tmp_path / "models"
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({**phi.to_json(), "optimizer": {"algorithm": "lbfgs"}}))
    over = _write_phi(tmp_path, make_phi(("replace", "/constraints/max_params", 1000)), "over.json")
    diverge = _write_phi(
        tmp_path,
        make_phi(
            ("replace", "/optimizer", {"algorithm": "sgd", "learning_rate": 10.0}),
            (
                "replace",
                "/reward",
                {"terms": [{"signal": "watch_time", "weight": 100.0}], "loss": "mse"},
            ),
        ),
        "diverge.json",
    )
    cases = [
        (["--config", str(tmp_path / "missing.json")], "not found"),
        (["--config", str(bad_json)], "not valid JSON"),
        (["--config", str(invalid)], "invalid Φ"),
        (["--config", over], "max_params"),
        (["--config", diverge], "diverged"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(
            main, ["train", *args, "--data", str(logs_path), "--out", str(out)]
        )
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (message, result.output)
    missing_data = CliRunner().invoke(
        main, ["compute-loss", "--config", "baseline", "--data", str(tmp_path / "no.duckdb")]
    )
    assert missing_data.exit_code == 2 and "not found" in missing_data.output
    assert not out.exists()


def test_json_errors_are_json(logs_path, make_phi, tmp_path, monkeypatch):
    over = _write_phi(tmp_path, make_phi(("replace", "/constraints/max_params", 1000)))
    args = ["compute-loss", "--config", over, "--data", str(logs_path), "--json"]
    monkeypatch.setattr(sys, "argv", ["evorec", *args])  # the CLI looks for --json in argv
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    first = result.output.splitlines()[0]
    err = json.loads(first)
    assert err["error"] == "ConstraintViolation" and err["name"] == "max_params"
