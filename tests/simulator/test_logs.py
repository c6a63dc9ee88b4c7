import duckdb
import numpy as np
import pytest

from evorec.errors import ConfigError, SimulationError
from evorec.simulator.logs import simulate
from evorec.simulator.schema import TABLES

_DUCK_TYPES = {"INTEGER", "DOUBLE", "BOOLEAN", "VARCHAR", "FLOAT[]", "TINYINT", "BIGINT"}


def _tables(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            name: con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [name],
            ).fetchall()
            for name in TABLES
        }
    finally:
        con.close()


def test_logged_database_follows_the_contract(small_logs):
    path, summary = small_logs
    tables = _tables(path)
    for name, table in TABLES.items():
        assert [c for c, _ in tables[name]] == table.column_names
        assert [t for _, t in tables[name]] == [c.type for c in table.columns]
        assert {c.type for c in table.columns} <= _DUCK_TYPES
    con = duckdb.connect(str(path), read_only=True)
    n_imp, clicks = con.execute("SELECT count(*), sum(click::INT) FROM impressions").fetchone()
    assert n_imp == summary.impressions > 0 and clicks == summary.clicks > 0
    # One row per user and day; impressions only from active users, K per slate.
    assert con.execute("SELECT count(*) FROM user_days").fetchone()[0] == 300 * 2
    bad = con.execute(
        "SELECT count(*) FROM impressions i JOIN user_days d USING (user_id, day) "
        "WHERE NOT d.active"
    ).fetchone()[0]
    assert bad == 0
    per_slate = con.execute(
        "SELECT DISTINCT count(*) FROM impressions GROUP BY user_id, day, step"
    ).fetchall()
    assert per_slate == [(5,)]
    # Signals are consistent: watch time, likes and surveys only after a click.
    assert (
        con.execute(
            "SELECT count(*) FROM impressions WHERE NOT click AND "
            "(watch_time > 0 OR liked OR survey IS NOT NULL)"
        ).fetchone()[0]
        == 0
    )
    assert (
        con.execute("SELECT count(*) FROM impressions WHERE click AND dismiss").fetchone()[0] == 0
    )
    surveyed, lo, hi = con.execute(
        "SELECT count(survey), min(survey), max(survey) FROM impressions"
    ).fetchone()
    assert 0 < surveyed < clicks and lo >= 1 and hi <= 5
    p_lo, p_hi = con.execute("SELECT min(propensity), max(propensity) FROM impressions").fetchone()
    assert 0 < p_lo <= p_hi <= 1
    # Daily time spent equals the day's watch time in impressions.
    diff = con.execute(
        "SELECT max(abs(d.time_spent - coalesce(i.w, 0))) FROM user_days d LEFT JOIN "
        "(SELECT user_id, day, sum(watch_time) w FROM impressions GROUP BY ALL) i "
        "USING (user_id, day)"
    ).fetchone()[0]
    assert diff < 1e-2
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    assert meta["surface"] == "home_feed" and meta["seed"] == "3" and meta["users"] == "300"
    con.close()


def test_same_seed_same_logs_other_seed_other_logs(small_logs, tmp_path):
    path, _ = small_logs
    again = simulate("home_feed", 300, 2, 3, tmp_path / "again.duckdb")
    other = simulate("home_feed", 300, 2, 4, tmp_path / "other.duckdb")

    def content(p):
        con = duckdb.connect(str(p), read_only=True)
        rows = con.execute("SELECT * FROM impressions ORDER BY ALL").fetchnumpy()
        days = con.execute("SELECT * FROM user_days ORDER BY ALL").fetchnumpy()
        con.close()
        return rows, days

    a, b, c = content(path), content(again.path), content(other.path)
    for key in a[0]:
        np.testing.assert_array_equal(a[0][key], b[0][key])
    for key in a[1]:
        np.testing.assert_array_equal(a[1][key], b[1][key])
    assert len(a[0]["doc_id"]) != len(c[0]["doc_id"]) or not np.array_equal(
        a[0]["doc_id"], c[0]["doc_id"]
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"surface": "nope"}, "unknown surface"),
        ({"users": 0}, "users must be a positive integer"),
        ({"days": -1}, "days must be a positive integer"),
        ({"users": 2.5}, "users must be a positive integer"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path, kwargs, message):
    args = {
        "surface": "home_feed",
        "users": 10,
        "days": 1,
        "seed": 0,
        "out": tmp_path / "x.duckdb",
    } | kwargs
    with pytest.raises(ConfigError, match=message):
        simulate(**args)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(small_logs, tmp_path):
    out = tmp_path / "x.duckdb"
    out.write_text("precious")
    with pytest.raises(ConfigError, match="already exists"):
        simulate("home_feed", 10, 1, 0, out)
    assert out.read_text() == "precious"


def test_a_failing_run_leaves_no_half_written_file(tmp_path, monkeypatch):
    from evorec.simulator import world

    def broken(self, num_steps=1):
        raise SimulationError("injected failure")

    monkeypatch.setattr(world.World, "step", broken)
    with pytest.raises(SimulationError):
        simulate("home_feed", 10, 1, 0, tmp_path / "x.duckdb")
    assert list(tmp_path.iterdir()) == []
