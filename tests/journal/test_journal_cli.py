"""`evorec journal show|export|import`."""

from __future__ import annotations

import json

from click.testing import CliRunner

from evorec.cli import main
from evorec.journal import Journal, Status


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def _seed(path) -> Journal:
    journal = Journal(path)
    rec = journal.create(
        surface="home_feed",
        author="builtin",
        persona="optimizer",
        parent_phi_hash="p0",
        delta=[{"op": "replace", "path": "/optimizer/algorithm", "value": "adam"}],
        hypothesis="adam adapts its step sizes",
    )
    journal.set_proxy_result(rec.id, {"improvement": 0.0123})
    journal.transition(rec.id, Status.PROXY_BETTER)
    other = journal.create(
        surface="home_feed",
        author="alice",
        parent_phi_hash="p0",
        delta=[{"op": "replace", "path": "/reward/loss", "value": "mse"}],
        hypothesis="regression label",
        status=Status.PROPOSED,
    )
    journal.transition(other.id, Status.FAILED, error="validated: boom")
    return journal


def test_show_table_and_json(tmp_path):
    path = tmp_path / "j.duckdb"
    _seed(path)
    table = run("journal", "show", "--journal", str(path))
    assert table.exit_code == 0, table.output
    assert "PROXY_BETTER" in table.output and "+0.0123" in table.output
    assert '~ /optimizer/algorithm: "adam"' in table.output
    assert "error: validated: boom" in table.output
    data = json.loads(run("journal", "show", "--journal", str(path), "--json").output)
    assert [d["status"] for d in data] == ["PROXY_BETTER", "FAILED"]
    only = json.loads(
        run("journal", "show", "--journal", str(path), "--status", "FAILED", "--json").output
    )
    assert [d["author"] for d in only] == ["alice"]


def test_export_import_round_trip(tmp_path):
    path, out, other = tmp_path / "j.duckdb", tmp_path / "prior.jsonl", tmp_path / "k.duckdb"
    _seed(path)
    result = run("journal", "export", "--journal", str(path), "--out", str(out))
    assert result.exit_code == 0 and "exported 2 experiments" in result.output
    first = run("journal", "import", "--journal", str(other), str(out))
    assert first.exit_code == 0 and "imported 2 new experiments" in first.output
    second = run("journal", "import", "--journal", str(other), str(out))
    assert "imported 0 new experiments" in second.output


def test_bad_input_is_a_clear_error(tmp_path):
    missing = run("journal", "show", "--journal", str(tmp_path / "nope.duckdb"))
    assert missing.exit_code == 2 and "journal not found" in missing.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"delta": 3, "hypothesis": "x", "status": "DRAFT"}\n')
    result = run("journal", "import", "--journal", str(tmp_path / "j.duckdb"), str(bad))
    assert result.exit_code == 2 and "line 1" in result.output
    bad_status = run("journal", "show", "--journal", str(bad), "--status", "NOPE")
    assert bad_status.exit_code == 2
    absent = run(
        "journal", "import", "--journal", str(tmp_path / "j.duckdb"), str(tmp_path / "x.json")
    )
    assert absent.exit_code == 2 and "not found" in absent.output
