"""`evorec report`: paths printed for people and for programs; bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evorec.cli import main
from evorec.journal import Journal, Status


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_json_paths_default_out(campaign):
    result = run(
        "report", "--journal", campaign.journal_path, "--workdir", campaign.workdir, "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert Path(data["html"]) == campaign.workdir / "report" / "report.html"
    assert Path(data["markdown"]).is_file() and Path(data["html"]).is_file()
    assert len(data["plots"]) == 4 and all(Path(p).is_file() for p in data["plots"])
    assert "over the starting baseline" in data["headline"]


def test_human_output_and_out(tmp_path, campaign):
    result = run(
        "report",
        "--journal",
        campaign.journal_path,
        "--workdir",
        campaign.workdir,
        "--out",
        tmp_path / "r",
        "--title",
        "my run",
    )
    assert result.exit_code == 0, result.output
    assert f"html:     {tmp_path / 'r' / 'report.html'}" in result.stdout
    assert result.stdout.count("plot:") == 4
    assert "<title>my run</title>" in (tmp_path / "r" / "report.html").read_text()


def test_missing_journal_exits_2(tmp_path, campaign):
    result = run("report", "--journal", tmp_path / "nope.duckdb", "--workdir", campaign.workdir)
    assert result.exit_code == 2
    assert "error: journal not found" in result.stderr
    assert "Traceback" not in result.output


def test_workdir_without_registry_exits_2(tmp_path, campaign):
    result = run("report", "--journal", campaign.journal_path, "--workdir", tmp_path)
    assert result.exit_code == 2
    assert "no production registry" in result.stderr
    assert "Traceback" not in result.output


def test_cli_import_stays_light():
    code = (
        "import sys; import evorec.commands.report; "
        "heavy = [m for m in ('matplotlib', 'duckdb', 'torch', 'tensorflow') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_report_after_a_real_online_run(tmp_path):
    """Simulate logs, queue two candidates, run `evorec online`, then `evorec report`."""
    from evorec.ranker.schema import baseline_phi, phi_hash
    from evorec.simulator.logs import simulate

    logs = tmp_path / "logs.duckdb"
    simulate("home_feed", 300, 2, 0, logs)  # ~12k impressions: above the 10k minimum
    journal = Journal(tmp_path / "journal.duckdb")
    parent = phi_hash(baseline_phi())
    ids = []
    for delta, hypothesis in [
        (
            [{"op": "replace", "path": "/optimizer/algorithm", "value": "adam"}],
            "adam <em>steps</em>",
        ),
        (
            [{"op": "replace", "path": "/architecture/embedding_dim", "value": 8}],
            "smaller embeddings",
        ),
    ]:
        rec = journal.create(
            surface="home_feed",
            author="builtin",
            persona="optimizer",
            parent_phi_hash=parent,
            delta=delta,
            hypothesis=hypothesis,
        )
        journal.set_proxy_result(rec.id, {"improvement": 0.01 * (len(ids) + 1)})
        journal.transition(rec.id, Status.PROXY_BETTER)
        journal.transition(rec.id, Status.PROPOSED)
        ids.append(rec.id)
    work = tmp_path / "work"
    online = run(
        "online",
        "--journal",
        journal.path,
        "--data",
        logs,
        "--workdir",
        work,
        "--users",
        200,
        "--days",
        2,
        "--train-steps",
        20,
    )
    assert online.exit_code == 0, online.output
    finished = [r for r in journal.records() if r.online_result]
    assert {r.id for r in finished} == set(ids)

    result = run("report", "--journal", journal.path, "--workdir", work, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    html_text = Path(data["html"]).read_text()
    for exp_id in ids:
        assert exp_id in html_text
    assert "&lt;em&gt;steps&lt;/em&gt;" in html_text
    launched = [r for r in journal.records() if r.status is Status.LAUNCHED]
    if launched:
        assert "over the starting baseline" in data["headline"]
    else:
        assert data["headline"] == "no launch: no north-star lift was found"
    tested = [r for r in finished if (r.online_result or {}).get("ab")]
    if tested:
        assert any(Path(p).name == "ab_forest.png" for p in data["plots"])
