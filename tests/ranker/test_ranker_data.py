"""Loading logged data: bulk arrays, the by-user split, and clear errors for bad databases."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from evorec.errors import DataError
from evorec.ranker.data import heldout_users, load_logged_data


def test_arrays_match_the_database(data, logs_path):
    con = duckdb.connect(str(logs_path), read_only=True)
    n, clicks, asked = con.execute(
        "SELECT count(*), sum(click::INT), count(survey) FROM impressions"
    ).fetchone()
    feat = con.execute("SELECT features FROM users WHERE user_id = 7").fetchone()[0]
    views = con.execute("SELECT views FROM documents WHERE doc_id = 3").fetchone()[0]
    con.close()
    assert data.num_impressions == n
    assert data.signals["click"].sum() == clicks
    assert np.isfinite(data.signals["survey"]).sum() == asked
    assert np.allclose(data.user_features[7], feat)
    assert data.doc_views[3] == views
    assert data.spec.num_users == 200 and data.spec.num_docs == 100 and data.spec.num_topics == 6
    for name, arr in data.signals.items():
        assert arr.shape == (n,) and arr.dtype == np.float32, name


def test_split_is_by_user_and_deterministic(data, logs_path):
    train_users = set(data.user_id[~data.heldout].tolist())
    held_users = set(data.user_id[data.heldout].tolist())
    assert train_users and held_users and not train_users & held_users
    again = load_logged_data(logs_path)
    assert np.array_equal(again.heldout, data.heldout)
    share = heldout_users(np.arange(100_000), 0.2).mean()
    assert 0.19 < share < 0.21
    wider = load_logged_data(logs_path, holdout_fraction=0.5)
    assert wider.heldout.sum() > data.heldout.sum()


def test_max_impressions(logs_path):
    assert load_logged_data(logs_path, max_impressions=1000).num_impressions == 1000


def _copy_without(src, tmp_path, sql):
    dst = tmp_path / "broken.duckdb"
    con = duckdb.connect(str(dst))
    con.execute(f"ATTACH '{src}' AS src (READ_ONLY)")
    for table in ("meta", "users", "documents", "impressions", "user_days"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table}")
    con.execute(sql)
    con.close()
    return dst


def test_missing_table_is_named(logs_path, tmp_path):
    path = _copy_without(logs_path, tmp_path, "DROP TABLE documents")
    with pytest.raises(DataError, match="documents"):
        load_logged_data(path)


def test_missing_column_is_named(logs_path, tmp_path):
    path = _copy_without(logs_path, tmp_path, "ALTER TABLE impressions DROP COLUMN watch_time")
    with pytest.raises(DataError, match="impressions.watch_time"):
        load_logged_data(path)


def test_null_signal_is_refused(logs_path, tmp_path):
    path = _copy_without(logs_path, tmp_path, "UPDATE impressions SET click = NULL WHERE day = 0")
    with pytest.raises(DataError, match="click"):
        load_logged_data(path)


def test_missing_file_and_not_a_database(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_logged_data(tmp_path / "nope.duckdb")
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database")
    with pytest.raises(DataError):
        load_logged_data(junk)


def test_single_user_cannot_be_split(logs_path, tmp_path):
    path = _copy_without(logs_path, tmp_path, "DELETE FROM impressions WHERE user_id <> 5")
    with pytest.raises(DataError, match="empty"):
        load_logged_data(path)
