"""The tools over logs written by the real simulator, and under concurrent tool calls."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from evorec.tools import describe_data, label_correlation, make_tools, run_sql_query

from .conftest import file_hash


@pytest.mark.slow
def test_tools_on_simulated_logs(tmp_path) -> None:
    from evorec.simulator.logs import simulate

    summary = simulate("home_feed", users=30, days=2, seed=0, out=tmp_path / "sim.duckdb")
    path = tmp_path / "sim.duckdb"
    before = file_hash(path)
    desc = describe_data(path)
    counts = {t["name"]: t.get("row_count") for t in desc["tables"]}
    assert counts["users"] == 30 and counts["impressions"] == summary.impressions
    clicks = run_sql_query(path, "SELECT sum(click::INT) FROM impressions").rows[0][0]
    assert clicks == summary.clicks
    res = label_correlation(path, "click::DOUBLE + completion", outcome="active_days")
    seen = run_sql_query(path, "SELECT count(DISTINCT user_id) FROM impressions").rows[0][0]
    assert res["n_users"] == seen > 0  # users never shown anything have no label
    tools = {t.name: t for t in make_tools(path)}
    err = json.loads(tools["run_sql_query"].invoke({"sql": "DELETE FROM impressions"}))
    assert err["code"] == "write_operation"
    assert file_hash(path) == before


def test_parallel_tool_calls_share_the_file(tmp_path) -> None:
    # A ToolNode runs tool calls in threads; the ranker opens the file with DuckDB's default
    # settings and the sandbox with locked-down ones, which DuckDB refuses to mix in one
    # process at the same time. The tools serialise access per file.
    from evorec.ranker.data import write_synthetic_logs
    from evorec.tools.agent_tools import ProxyEvaluator

    path = write_synthetic_logs(tmp_path / "syn.duckdb", users=40, docs=20, impressions=800)
    tools = {t.name: t for t in make_tools(path)}
    sql = tools["run_sql_query"]

    def query(i: int) -> str:
        return sql.invoke({"sql": f"SELECT count(*) + {i} FROM impressions"})

    def load(_: int) -> str:
        ProxyEvaluator(path).data()
        return "loaded"

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(query if i % 2 else load, i) for i in range(16)]
        results = [f.result() for f in futures]
    for i, out in enumerate(results):
        if i % 2:
            assert out.splitlines()[2].strip() == str(800 + i), out
        else:
            assert out == "loaded"
