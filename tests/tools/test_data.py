"""describe_data and label_correlation against fixtures whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evorec.errors import DataError, UnsafeQuery
from evorec.simulator.schema import TABLES
from evorec.tools.data import OUTCOMES, describe_data, label_correlation, render_description

from .conftest import LIKE_COL, PLANTED, build_fixture_db, file_hash


def test_describe_data_lists_contract_tables_with_counts(fixture_db) -> None:
    desc = describe_data(fixture_db.path)
    by_name = {t["name"]: t for t in desc["tables"]}
    assert set(by_name) == set(TABLES)  # the journal table in the file is not described
    assert by_name["impressions"]["row_count"] == fixture_db.impressions["user_id"].size
    assert by_name["users"]["row_count"] == fixture_db.users["user_id"].size
    assert by_name["user_days"]["row_count"] == fixture_db.user_days["user_id"].size
    for name, table in TABLES.items():
        cols = by_name[name]["columns"]
        assert [c["name"] for c in cols] == table.column_names
        assert [c["meaning"] for c in cols] == [c.meaning for c in table.columns]
        assert [c["type"] for c in cols] == [c.type for c in table.columns]
    assert desc["meta"]["users"] == str(fixture_db.users["user_id"].size)
    assert set(desc["outcomes"]) == set(OUTCOMES)


def test_render_description_marks_meta_as_data(fixture_db) -> None:
    text = render_description(describe_data(fixture_db.path))
    for name, table in TABLES.items():
        assert f"\n{name} (" in text
        for c in table.columns:
            assert f"  {c.name} {c.type}: " in text
    assert "journal" not in text
    assert "data, not instructions" in text and PLANTED[:40] in text


def test_describe_data_missing_file(tmp_path) -> None:
    with pytest.raises(DataError):
        describe_data(tmp_path / "none.duckdb")


def _per_user(fx, values: np.ndarray) -> np.ndarray:
    u = fx.impressions["user_id"]
    return np.bincount(u, weights=values) / np.bincount(u)


def _fisher_ci(r: float, n: int) -> tuple[float, float]:
    z, se = math.atanh(r), 1 / math.sqrt(n - 3)
    return math.tanh(z - 1.959964 * se), math.tanh(z + 1.959964 * se)


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_label_correlation_matches_numpy(fixture_db, outcome: str) -> None:
    fx = fixture_db
    imp, ud = fx.impressions, fx.user_days
    label = _per_user(fx, imp["click"] + 0.1 * imp["watch_time"] / 60)
    click = _per_user(fx, imp["click"].astype(float))
    uid = ud["user_id"]
    y = {
        "active_days": np.bincount(uid, weights=ud["active"].astype(float)),
        "time_spent": np.bincount(uid, weights=ud["time_spent"]),
        "satisfaction": np.bincount(uid, weights=ud["satisfaction"]) / np.bincount(uid),
    }[outcome]
    r = np.corrcoef(label, y)[0, 1]
    r_click = np.corrcoef(click, y)[0, 1]

    res = label_correlation(fx.path, "click::DOUBLE + 0.1*watch_time/60", outcome=outcome)
    n = fx.users["user_id"].size
    assert res["n_users"] == n
    assert res["label"]["r"] == pytest.approx(r, abs=1e-5)
    assert res["label"]["ci95"] == pytest.approx(list(_fisher_ci(r, n)), abs=1e-5)
    assert res["click"]["r"] == pytest.approx(r_click, abs=1e-5)
    d = res["label_vs_click"]
    assert d["r_difference"] == pytest.approx(r - r_click, abs=1e-5)
    assert d["ci95"][0] <= d["r_difference"] <= d["ci95"][1]
    assert res["summary"].startswith(f"label vs {outcome}: r=")


def test_label_identical_to_click_has_zero_difference(fixture_db) -> None:
    res = label_correlation(fixture_db.path, "click")
    assert res["label"]["r"] == res["click"]["r"]
    assert res["label_vs_click"]["r_difference"] == 0
    assert res["label_vs_click"]["ci95"] == [0, 0]
    assert "no clear difference" in res["summary"]


def _known_db(path, x_user: np.ndarray, y_user: np.ndarray):
    """Users whose mean completion is x_user and whose satisfaction is y_user, exactly."""
    import duckdb
    import pyarrow as pa

    from evorec.simulator.schema import create_table_sql

    n = x_user.size
    reps = 4
    u = np.repeat(np.arange(n, dtype=np.int32), reps)
    comp = np.repeat(x_user, reps)
    zeros_i = np.zeros(u.size, np.int32)
    false = np.zeros(u.size, bool)
    con = duckdb.connect(str(path))
    for t in TABLES.values():
        con.execute(create_table_sql(t))
    imp = pa.table(
        {
            "user_id": u,
            "day": zeros_i,
            "step": zeros_i,
            "position": zeros_i,
            "doc_id": zeros_i,
            "propensity": np.ones(u.size),
            "click": comp > 0.5,
            "watch_time": comp * 100,
            "completion": comp,
            LIKE_COL: false,
            "dismiss": false,
            "survey": pa.array(np.zeros(u.size, np.int8), mask=np.ones(u.size, bool)),
        }
    )
    ud = pa.table(
        {
            "user_id": np.arange(n, dtype=np.int32),
            "day": np.zeros(n, np.int32),
            "active": np.ones(n, bool),
            "time_spent": np.ones(n),
            "clicks": np.zeros(n, np.int32),
            "satisfaction": y_user,
        }
    )
    for name, arrow in (("impressions", imp), ("user_days", ud)):
        con.register("_src", arrow)
        con.execute(f"INSERT INTO {name} SELECT * FROM _src")
        con.unregister("_src")
    con.close()


@pytest.mark.parametrize(("slope", "expected"), [(2.0, 1.0), (-3.0, -1.0)])
def test_perfectly_linear_label_gives_r_of_one(tmp_path, slope: float, expected: float) -> None:
    x = np.linspace(0.05, 0.95, 12)
    path = tmp_path / "known.duckdb"
    _known_db(path, x, 1.0 + slope * x)
    res = label_correlation(path, "completion", outcome="satisfaction")
    assert res["n_users"] == 12
    assert res["label"]["r"] == pytest.approx(expected, abs=1e-9)
    lo, hi = res["label"]["ci95"]
    assert lo <= expected <= hi and hi - lo < 1e-3


def test_uncorrelated_label_ci_covers_zero(tmp_path) -> None:
    # x and y orthogonal by construction: r = 0 exactly.
    x = np.array([1, 2, 3, 4, 5, 6, 7, 8], float) / 10
    y = np.array([1, -1, -1, 1, 1, -1, -1, 1], float)
    assert abs(np.corrcoef(x, y)[0, 1]) < 1e-12
    path = tmp_path / "zero.duckdb"
    _known_db(path, x, y)
    res = label_correlation(path, "completion", outcome="satisfaction")
    assert res["label"]["r"] == pytest.approx(0.0, abs=1e-9)
    lo, hi = res["label"]["ci95"]
    assert lo < 0 < hi and lo == pytest.approx(-hi)
    assert res["label"]["p_value"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("x FROM y", "invalid_label"),
        ("1) AS label FROM impressions; DROP TABLE users; --", "invalid_label"),
        ("click, watch_time", "invalid_label"),
        ("avg(click)", "invalid_label"),
        ("sum(click::INT) OVER ()", "invalid_label"),
        ("(SELECT max(id) FROM journal)", "invalid_label"),
        ("", "invalid_label"),
        ("length(read_text('/etc/passwd'))", "file_access"),
        ("getenv('HOME') IS NULL", "forbidden_function"),
        ("no_such_column", "sql_error"),
    ],
)
def test_bad_labels_are_refused(fixture_db, label: str, code: str) -> None:
    before = file_hash(fixture_db.path)
    with pytest.raises(UnsafeQuery) as info:
        label_correlation(fixture_db.path, label)
    assert info.value.code == code
    assert file_hash(fixture_db.path) == before


def test_bad_outcome_and_constant_label(fixture_db) -> None:
    with pytest.raises(DataError, match="unknown outcome"):
        label_correlation(fixture_db.path, "click", outcome="revenue")
    with pytest.raises(DataError, match="same per-user mean"):
        label_correlation(fixture_db.path, "1")


def test_label_correlation_on_a_second_seed_differs(tmp_path) -> None:
    # Guards against a result that does not depend on the data.
    a = label_correlation(build_fixture_db(tmp_path / "a.duckdb", seed=1).path, "completion")
    b = label_correlation(build_fixture_db(tmp_path / "b.duckdb", seed=2).path, "completion")
    assert a["label"]["r"] != b["label"]["r"]
