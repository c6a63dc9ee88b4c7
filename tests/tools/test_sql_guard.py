"""The SQL guard and sandbox: a hostile corpus refused with the right code and the
database file unchanged; legitimate analytical queries answered correctly; and, with the
parser bypassed, the sandbox alone still refusing file reads, writes and settings."""

from __future__ import annotations

import time

import numpy as np
import pytest

from evorec.errors import UnsafeQuery
from evorec.tools.sandbox import execute_sandboxed, run_sql_query
from evorec.tools.sql_guard import REFUSAL_CODES, check_sql

from .conftest import LIKE_COL, PLANTED, file_hash

# (query, expected code). Every entry must be refused by run_sql_query with that code.
HOSTILE: list[tuple[str, str]] = [
    # --- file reads -----------------------------------------------------------------------
    ("SELECT * FROM read_csv('/etc/passwd')", "file_access"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "file_access"),
    ("SELECT * FROM '/etc/passwd'", "file_access"),
    ('SELECT * FROM "/etc/passwd"', "file_access"),
    ("SELECT * FROM read_text('/etc/passwd')", "file_access"),
    ("SELECT * FROM read_blob('/etc/passwd')", "file_access"),
    ("SELECT * FROM read_parquet('/tmp/x.parquet')", "file_access"),
    ("SELECT * FROM parquet_scan('/tmp/x.parquet')", "file_access"),
    ("SELECT * FROM read_json_auto('/tmp/x.json')", "file_access"),
    ("SELECT * FROM read_ndjson('/tmp/x.json')", "file_access"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "file_access"),
    ("SELECT * FROM glob('/etc/*')", "file_access"),
    ("SELECT * FROM 's3://bucket/key.parquet'", "file_access"),
    ("SELECT * FROM 'https://example.com/x.csv'", "file_access"),
    ("SELECT * FROM users, 'x.csv'", "file_access"),
    ("SELECT * FROM users u JOIN LATERAL read_csv('/etc/passwd') r ON true", "file_access"),
    ("SELECT (SELECT count(*) FROM read_csv('/etc/passwd'))", "file_access"),
    ("WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x", "file_access"),
    ("SELECT * FROM users WHERE user_id IN (SELECT 1 FROM '/etc/passwd')", "file_access"),
    ("SELECT * FROM ReAd_CsV('/etc/passwd')", "file_access"),
    ("SELECT * FROM main.read_csv('/etc/passwd')", "file_access"),
    ("SELECT * FROM \"read_csv\"('/etc/passwd')", "file_access"),
    ("SELECT * FROM read_csv(['/etc/passwd', '/etc/hosts'])", "file_access"),
    ("SELECT * FROM sqlite_scan('/tmp/x.db', 't')", "file_access"),
    ("SELECT * FROM 'users'", "file_access"),  # a string in FROM is a path, not a table
    # --- environment, settings, catalog, dynamic SQL -------------------------------------
    ("SELECT getenv('HOME')", "forbidden_function"),
    ("SELECT 'HOME'.getenv()", "forbidden_function"),
    ("SELECT current_setting('memory_limit')", "forbidden_function"),
    ("SELECT * FROM duckdb_settings()", "forbidden_function"),
    ("SELECT * FROM duckdb_tables()", "forbidden_function"),
    ("SELECT * FROM duckdb_databases()", "forbidden_function"),
    ("SELECT * FROM duckdb_secrets()", "forbidden_function"),
    ("SELECT * FROM query('SELECT * FROM journal')", "forbidden_function"),
    ("SELECT * FROM query_table('journal')", "forbidden_function"),
    ("SELECT * FROM pragma_database_list()", "forbidden_function"),
    ("SELECT getvariable('x')", "forbidden_function"),
    ("SELECT nextval('seq')", "forbidden_function"),
    ("SELECT * FROM json_each('{}')", "table_function"),
    # --- tables outside the allow-list -----------------------------------------------------
    ("SELECT * FROM journal", "table_not_allowed"),
    ('SELECT * FROM "JOURNAL"', "table_not_allowed"),
    ("SeLeCt * FrOm JoUrNaL", "table_not_allowed"),
    ("SELECT * FROM information_schema.tables", "table_not_allowed"),
    ("SELECT * FROM pg_catalog.pg_tables", "table_not_allowed"),
    ("SELECT * FROM sqlite_master", "table_not_allowed"),
    ("SELECT * FROM logs.main.users", "table_not_allowed"),
    ("SELECT * FROM temp.main.x", "table_not_allowed"),
    ("SELECT * FROM users UNION SELECT * FROM journal", "table_not_allowed"),
    ("SELECT * FROM users POSITIONAL JOIN journal", "table_not_allowed"),
    ("SELECT * FROM users WHERE user_id = (SELECT max(id) FROM journal)", "table_not_allowed"),
    ("WITH a AS (SELECT * FROM journal) SELECT * FROM a", "table_not_allowed"),
    # a CTE is visible only where it is in scope
    ("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", "table_not_allowed"),
    (
        "SELECT * FROM (WITH journal AS (SELECT 1) SELECT * FROM journal) t, journal",
        "table_not_allowed",
    ),
    # unicode look-alikes: fullwidth 'ｕ', a zero-width space
    ("SELECT * FROM \uff55sers", "table_not_allowed"),
    ('SELECT * FROM "users\u200b"', "table_not_allowed"),
    # --- writes and DDL, anywhere ----------------------------------------------------------
    ("DROP TABLE users", "write_operation"),
    ("DELETE FROM impressions", "write_operation"),
    ("UPDATE users SET user_id = 0", "write_operation"),
    ("INSERT INTO users VALUES (1, NULL)", "write_operation"),
    ("INSERT OR REPLACE INTO users SELECT * FROM users", "write_operation"),
    ("CREATE TABLE x AS SELECT * FROM users", "write_operation"),
    ("CREATE TEMP TABLE x AS SELECT 1", "write_operation"),
    ("CREATE VIEW v AS SELECT 1", "write_operation"),
    ("CREATE MACRO m(a) AS a", "write_operation"),
    ("ALTER TABLE users ADD COLUMN x INT", "write_operation"),
    ("TRUNCATE users", "write_operation"),
    ("WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d", "write_operation"),
    (
        "WITH i AS (INSERT INTO users VALUES (1, NULL) RETURNING *) SELECT * FROM i",
        "write_operation",
    ),
    ("SELECT * INTO backup FROM users", "write_operation"),
    ("COPY users TO '/tmp/evorec_leak.csv'", "write_operation"),
    (
        "COPY (SELECT * FROM users) TO '/tmp/evorec_leak.parquet' (FORMAT parquet)",
        "write_operation",
    ),
    ("/* SELECT */ DROP TABLE users", "write_operation"),
    ("DrOp TaBlE users", "write_operation"),
    # --- statements that are not queries ---------------------------------------------------
    ("ATTACH '/tmp/other.duckdb' AS o", "not_a_query"),
    ("ATTACH ':memory:' AS m", "not_a_query"),
    ("DETACH logs", "not_a_query"),
    ("INSTALL httpfs", "not_a_query"),
    ("SET memory_limit = '100GB'", "not_a_query"),
    ("SET enable_external_access = true", "not_a_query"),
    ("SET VARIABLE x = 1", "not_a_query"),
    ("PRAGMA database_list", "not_a_query"),
    ("PRAGMA threads = 64", "not_a_query"),
    ("USE memory", "not_a_query"),
    ("BEGIN TRANSACTION", "not_a_query"),
    ("DESCRIBE users", "not_a_query"),
    ("SHOW TABLES", "not_a_query"),
    ("SUMMARIZE users", "not_a_query"),
    ("CHECKPOINT", "not_a_query"),
    ("PIVOT impressions ON day USING count(*)", "not_a_query"),
    ("VALUES (1)", "not_a_query"),
    # --- generic commands sqlglot cannot model ---------------------------------------------
    ("LOAD httpfs", "unsupported_statement"),
    ("RESET memory_limit", "unsupported_statement"),
    ("CALL pragma_version()", "unsupported_statement"),
    ("VACUUM", "unsupported_statement"),
    ("EXPLAIN ANALYZE SELECT 1", "unsupported_statement"),
    ("PREPARE p AS SELECT 1", "unsupported_statement"),
    ("EXPORT DATABASE '/tmp/evorec_export'", "parse_error"),  # sqlglot cannot parse it at all
    # --- multi-statement and comment tricks ------------------------------------------------
    ("SELECT 1; DROP TABLE users", "multiple_statements"),
    ("SELECT * FROM users; SELECT * FROM journal", "multiple_statements"),
    ("SELECT * FROM users /* harmless */ ; DROP TABLE users", "multiple_statements"),
    ("SELECT * FROM users -- comment\n; DROP TABLE users", "multiple_statements"),
    # --- malformed -------------------------------------------------------------------------
    ("", "empty"),
    ("-- only a comment", "empty"),
    (";", "empty"),
    ("SELECT * FROM users WHERE", "parse_error"),
    ("SELECT * FROM `users`", "parse_error"),
    ("SELECT " + "1 + " * 6000 + "1", "too_long"),
]


def test_corpus_is_large_and_codes_are_documented() -> None:
    assert len(HOSTILE) >= 50
    assert {code for _, code in HOSTILE} <= set(REFUSAL_CODES)


@pytest.mark.parametrize(("sql", "code"), HOSTILE, ids=[f"{i:03d}" for i in range(len(HOSTILE))])
def test_hostile_query_refused(fixture_db, sql: str, code: str) -> None:
    before = file_hash(fixture_db.path)
    with pytest.raises(UnsafeQuery) as info:
        run_sql_query(fixture_db.path, sql)
    assert info.value.code == code, info.value
    reason = info.value.reason
    assert reason and "\n" not in reason and len(reason) < 300
    assert file_hash(fixture_db.path) == before


def test_no_file_was_written_by_the_corpus(fixture_db) -> None:
    from pathlib import Path

    for path in ("/tmp/evorec_leak.csv", "/tmp/evorec_leak.parquet", "/tmp/evorec_export"):
        assert not Path(path).exists()


def test_cross_join_bomb_is_interrupted(fixture_db) -> None:
    before = file_hash(fixture_db.path)
    timeout = 1.0
    bomb = "SELECT count(*) FROM impressions a, impressions b, impressions c, impressions d"
    t0 = time.perf_counter()
    with pytest.raises(UnsafeQuery) as info:
        run_sql_query(fixture_db.path, bomb, timeout_s=timeout)
    assert info.value.code == "timeout"
    assert time.perf_counter() - t0 < 2 * timeout
    assert file_hash(fixture_db.path) == before


def test_memory_bomb_hits_the_limit(fixture_db) -> None:
    with pytest.raises(UnsafeQuery) as info:
        run_sql_query(
            fixture_db.path,
            "SELECT list(repeat('x', 10000)) FROM range(1000000)",
            memory_limit="64MB",
            timeout_s=20,
        )
    assert info.value.code == "memory_limit"


def test_instruction_planted_in_a_row_is_returned_as_data(fixture_db) -> None:
    before = file_hash(fixture_db.path)
    result = run_sql_query(fixture_db.path, "SELECT value FROM meta WHERE key = 'note'")
    assert result.rows == [[PLANTED]]
    assert PLANTED[:30] in result.to_text(max_cell_chars=200)
    users = run_sql_query(fixture_db.path, "SELECT count(*) FROM users")
    assert users.rows == [[fixture_db.users["user_id"].size]]
    assert file_hash(fixture_db.path) == before


def test_harmless_strings_that_look_like_attacks_pass(fixture_db) -> None:
    result = run_sql_query(fixture_db.path, "SELECT '; DROP TABLE users' AS s, 1 AS \"; --\"")
    assert result.rows == [["; DROP TABLE users", 1]]
    assert result.columns == ["s", "; --"]


def test_comments_are_stripped_before_execution() -> None:
    assert check_sql("SELECT 1 /* note */").sql(dialect="duckdb", comments=False) == "SELECT 1"


# ------------------------------------------------------------------------ legitimate queries


def _legit_cases(fx):
    imp, ud, docs, users = fx.impressions, fx.user_days, fx.documents, fx.users
    n_users = users["user_id"].size
    click = imp["click"].astype(float)
    ctr_user = np.bincount(imp["user_id"], weights=click) / np.bincount(imp["user_id"])
    active_days = np.bincount(ud["user_id"], weights=ud["active"].astype(float))
    topic_of = docs["topic"][imp["doc_id"]]
    survey = imp["survey"][imp["survey"] >= 0].astype(float)
    u3 = ud["user_id"] == 3
    order3 = np.argsort(ud["day"][u3])
    good_docs = docs["doc_id"][docs["quality_score"] > 0]
    never_active = sorted(set(range(n_users)) - set(ud["user_id"][ud["active"]].tolist()))
    watched = imp["watch_time"][imp["click"]]
    cases = [
        ("SELECT count(*) FROM impressions", [[imp["user_id"].size]]),
        ("SELECT COUNT(*) FROM USERS", [[n_users]]),
        ('SELECT count(*) FROM "main"."users"', [[n_users]]),
        ("SELECT avg(click::DOUBLE) FROM impressions", [[click.mean()]]),
        (
            "SELECT day, sum(click::INT) FROM impressions GROUP BY day ORDER BY day",
            [[d, int(v)] for d, v in enumerate(np.bincount(imp["day"], weights=click))],
        ),
        (
            "SELECT corr(watch_time, completion) FROM impressions",
            [[np.corrcoef(imp["watch_time"], imp["completion"])[0, 1]]],
        ),
        (
            "SELECT d.topic, count(*) FROM impressions i JOIN documents d USING (doc_id) "
            "GROUP BY d.topic ORDER BY d.topic",
            [[t, int(c)] for t, c in enumerate(np.bincount(topic_of)) if c],
        ),
        (
            "WITH u AS (SELECT user_id, avg(click::DOUBLE) AS ctr FROM impressions GROUP BY user_id) "
            "SELECT max(ctr), min(ctr) FROM u",
            [[ctr_user.max(), ctr_user.min()]],
        ),
        (
            "SELECT day, sum(clicks) OVER (PARTITION BY user_id ORDER BY day) FROM user_days "
            "WHERE user_id = 3 ORDER BY day",
            [
                [int(d), int(c)]
                for d, c in zip(
                    ud["day"][u3][order3], np.cumsum(ud["clicks"][u3][order3]), strict=True
                )
            ],
        ),
        (
            "SELECT doc_id FROM documents QUALIFY row_number() OVER (ORDER BY views DESC) = 1",
            [[int(docs["doc_id"][np.argmax(docs["views"])])]],
        ),
        (
            "SELECT count(*) FROM impressions WHERE doc_id IN "
            "(SELECT doc_id FROM documents WHERE quality_score > 0)",
            [[int(np.isin(imp["doc_id"], good_docs).sum())]],
        ),
        (
            "SELECT 'a' AS k, count(*) FROM users UNION ALL SELECT 'b', count(*) FROM documents "
            "ORDER BY k",
            [["a", n_users], ["b", docs["doc_id"].size]],
        ),
        (
            "SELECT user_id FROM users EXCEPT SELECT user_id FROM user_days WHERE active "
            "ORDER BY user_id",
            [[u] for u in never_active],
        ),
        (
            "SELECT user_id FROM users INTERSECT SELECT user_id FROM impressions WHERE click "
            "ORDER BY user_id",
            [[int(u)] for u in np.unique(imp["user_id"][imp["click"]])],
        ),
        (
            f'SELECT count(*) FILTER (WHERE "{LIKE_COL}") FROM impressions',
            [[int(imp[LIKE_COL].sum())]],
        ),
        ("SELECT avg(survey), count(survey) FROM impressions", [[survey.mean(), survey.size]]),
        (
            "WITH c AS (SELECT user_id, avg(click::DOUBLE) AS ctr FROM impressions GROUP BY ALL), "
            "a AS (SELECT user_id, sum(active::INT) AS days FROM user_days GROUP BY ALL) "
            "SELECT corr(ctr, days) FROM c JOIN a USING (user_id)",
            [[np.corrcoef(ctr_user, active_days)[0, 1]]],
        ),
        (
            "SELECT day, clicks - lag(clicks) OVER (ORDER BY day) FROM user_days "
            "WHERE user_id = 3 ORDER BY day",
            [[0, None]]
            + [
                [int(d), int(x)]
                for d, x in zip(
                    ud["day"][u3][order3][1:], np.diff(ud["clicks"][u3][order3]), strict=True
                )
            ],
        ),
        (
            "SELECT quantile_cont(watch_time, 0.5) FROM impressions WHERE click",
            [[float(np.median(watched))]],
        ),
        (
            "SELECT sum(CASE WHEN dismiss THEN 1 ELSE 0 END) FROM impressions",
            [[int(imp["dismiss"].sum())]],
        ),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
            "SELECT sum(n) FROM r",
            [[15]],
        ),
        ("SELECT sum(range) FROM range(10)", [[45]]),
        (
            "SELECT list_sum(features) FROM users WHERE user_id = 0",
            [[float(users["features"][0].astype(np.float64).sum())]],
        ),
        ("SELECT value FROM meta WHERE key = 'users'", [[str(n_users)]]),
        (
            "SELECT position, avg(click::DOUBLE) FROM impressions GROUP BY position ORDER BY 1",
            [
                [p, v]
                for p, v in enumerate(
                    np.bincount(imp["position"], weights=click) / np.bincount(imp["position"])
                )
            ],
        ),
    ]
    return cases


LEGIT_COUNT = 25


def test_there_are_enough_legitimate_queries(fixture_db) -> None:
    assert len(_legit_cases(fixture_db)) == LEGIT_COUNT >= 20


@pytest.mark.parametrize("index", range(LEGIT_COUNT))
def test_legitimate_query_answered_correctly(fixture_db, index: int) -> None:
    sql, expected = _legit_cases(fixture_db)[index]
    result = run_sql_query(fixture_db.path, sql, max_rows=100)
    assert not result.truncated
    assert result.row_count == len(expected), sql
    for got, want in zip(result.rows, expected, strict=True):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            if isinstance(w, float):
                assert g == pytest.approx(w, rel=1e-5, abs=1e-6), sql
            else:
                assert g == w, sql


def test_row_cap_sets_truncated(fixture_db) -> None:
    result = run_sql_query(fixture_db.path, "SELECT * FROM impressions", max_rows=10)
    assert result.truncated and result.row_count == 10
    assert result.columns[:2] == ["user_id", "day"]
    text = result.to_text()
    assert "truncated" in text and text.count("\n") == 10 + 2
    d = result.to_dict()
    assert d["truncated"] is True and d["row_count"] == 10 and len(d["rows"]) == 10


def test_missing_database_is_a_data_error(tmp_path) -> None:
    from evorec.errors import DataError

    with pytest.raises(DataError):
        run_sql_query(tmp_path / "nope.duckdb", "SELECT 1")


# ------------------------------------------------------------------------ defence in depth

SECRET = "evorec-secret-canary-7f3a"

# With the parser bypassed, every one of these must fail in DuckDB itself.
BYPASS: list[str] = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('{canary}')",
    "SELECT * FROM '{canary}'",
    "SELECT * FROM read_text('{canary}')",
    "SELECT * FROM glob('/etc/*')",
    "CREATE TABLE x (a INTEGER)",
    "INSERT INTO users VALUES (99, NULL)",
    "DELETE FROM impressions",
    "UPDATE users SET user_id = user_id + 1",
    "DROP TABLE users",
    "ATTACH '{tmp}/other.duckdb' AS o",
    "ATTACH ':memory:' AS m",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET memory_limit = '100GB'",
    "SET enable_external_access = true",
    "SET threads = 64",
    "RESET memory_limit",
    "PRAGMA threads = 64",
    "COPY users TO '{tmp}/leak.csv'",
    "EXPORT DATABASE '{tmp}/export'",
]


@pytest.mark.parametrize("template", BYPASS)
def test_sandbox_refuses_without_the_parser(fixture_db, tmp_path, template: str) -> None:
    canary = tmp_path / "canary.csv"
    canary.write_text(f"secret\n{SECRET}\n")
    sql = template.format(canary=canary, tmp=tmp_path)
    with pytest.raises(UnsafeQuery):  # the guard refuses all of them...
        check_sql(sql)
    before = file_hash(fixture_db.path)
    with pytest.raises(UnsafeQuery) as info:  # ...and so does the sandbox on its own
        execute_sandboxed(fixture_db.path, sql)
    assert info.value.code == "sandbox_refused", info.value
    assert SECRET not in str(info.value)
    assert file_hash(fixture_db.path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canary.csv"]


def test_sandbox_sees_no_file_for_a_bare_path_string(fixture_db) -> None:
    # Without external access DuckDB does not even try a replacement scan for a path with
    # no known extension: the string is just an unknown table.
    with pytest.raises(UnsafeQuery) as info:
        execute_sandboxed(fixture_db.path, "SELECT * FROM '/etc/passwd'")
    assert info.value.code == "sql_error" and "does not exist" in info.value.reason


def test_sandbox_timeout_without_the_parser(fixture_db) -> None:
    t0 = time.perf_counter()
    with pytest.raises(UnsafeQuery) as info:
        execute_sandboxed(
            fixture_db.path,
            "SELECT count(*) FROM impressions a, impressions b, impressions c, impressions d",
            timeout_s=0.5,
        )
    assert info.value.code == "timeout"
    assert time.perf_counter() - t0 < 1.0


def test_sandbox_settings_are_what_they_claim(fixture_db) -> None:
    result = execute_sandboxed(
        fixture_db.path,
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), "
        "current_setting('threads'), current_setting('access_mode'), "
        "current_setting('python_enable_replacements'), current_setting('autoload_known_extensions')",
        threads=1,
    )
    assert result.rows == [[False, True, 1, "read_only", False, False]]
