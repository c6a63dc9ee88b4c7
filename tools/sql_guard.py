"""The SQL guard: the first line of defence in front of SQL that a language model wrote.

:func:`check_sql` parses the text with sqlglot (DuckDB dialect) and refuses, with an
:class:`~evorec.errors.UnsafeQuery` carrying a stable ``code`` and a one-line reason a model
can act on:

* anything that does not parse, is empty, too long, or holds more than one statement;
* a generic ``Command`` (sqlglot's fallback for statements it does not model: ``LOAD``,
  ``CALL``, ``RESET``, ``VACUUM``, ...);
* a write or DDL node *anywhere* in the tree (``INSERT``, ``DELETE`` inside a ``WITH``,
  ``SELECT ... INTO``, ``CREATE``, ``COPY``, ...);
* any statement that is not a query (``SELECT`` / ``UNION`` / ``INTERSECT`` / ``EXCEPT``,
  with or without CTEs): ``SET``, ``PRAGMA``, ``ATTACH``, ``INSTALL``, ``DESCRIBE``, ...;
* a table that is neither a logged-data table (:data:`ALLOWED_TABLES`, from
  ``simulator/schema.py``) nor a CTE visible at that point, or one qualified by a catalog or
  a schema other than ``main``;
* string paths used as tables (``FROM '/etc/passwd'``), and functions that touch files,
  network, environment, settings or the catalog (``read_csv``, ``glob``, ``getenv``,
  ``current_setting``, ``duckdb_*``, ``query``, ...);
* table functions other than :data:`ALLOWED_TABLE_FUNCTIONS`.

The checked tree, re-rendered without comments, is what :mod:`evorec.tools.sandbox` runs, so
DuckDB executes what was checked. The sandbox (read-only connection, no external access,
locked configuration, memory/thread limits, a wall-clock timeout) is the second line.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from evorec.errors import UnsafeQuery
from evorec.simulator.schema import TABLES

__all__ = [
    "ALLOWED_TABLES",
    "ALLOWED_TABLE_FUNCTIONS",
    "MAX_SQL_CHARS",
    "REFUSAL_CODES",
    "check_sql",
    "checked_sql",
]

#: The logged-data tables a query may read (the journal and checkpoint stores never).
ALLOWED_TABLES: frozenset[str] = frozenset(TABLES)

#: Table functions that only generate values (no I/O, no catalog).
ALLOWED_TABLE_FUNCTIONS: frozenset[str] = frozenset({"range", "generate_series", "unnest"})

#: Longest SQL text accepted (a parser-cost bound; real analytical queries are far shorter).
MAX_SQL_CHARS = 20_000

#: Every refusal code :func:`check_sql`, the sandbox and ``label_correlation`` can give.
REFUSAL_CODES: dict[str, str] = {
    "empty": "No SQL statement was given.",
    "too_long": f"The SQL text is longer than {MAX_SQL_CHARS} characters.",
    "parse_error": "The text is not valid DuckDB SQL (or uses syntax the guard cannot check).",
    "multiple_statements": "More than one statement; send exactly one query.",
    "unsupported_statement": "A statement the parser cannot model (LOAD, CALL, RESET, VACUUM, ...).",
    "write_operation": "A write or DDL (INSERT, UPDATE, DELETE, CREATE, DROP, COPY, SELECT INTO, ...), anywhere.",
    "not_a_query": "Not a query (SET, PRAGMA, ATTACH, INSTALL, USE, DESCRIBE, SHOW, ...).",
    "table_not_allowed": "A table that is not a logged-data table or a CTE, or a qualified name.",
    "file_access": "A file path used as a table, or a function that reads files.",
    "forbidden_function": "A function touching the environment, settings, catalog or other queries.",
    "table_function": "A table function other than range, generate_series or unnest.",
    "invalid_label": "A label expression that is not one row-level SQL expression.",
    "timeout": "The query ran past its wall-clock limit and was interrupted.",
    "memory_limit": "The query needed more memory than its limit.",
    "sandbox_refused": "The read-only, no-external-access sandbox refused the operation.",
    "sql_error": "DuckDB rejected the query (unknown column, type error, ...).",
}

# Write/DDL anywhere in the tree -> write_operation.
_WRITE_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "DML",
        "DDL",
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Copy",
        "Into",
        "Create",
        "Drop",
        "Alter",
        "TruncateTable",
        "LoadData",
        "Export",
        "Grant",
        "Revoke",
        "Comment",
    )
    if hasattr(exp, name)
)

# Statements that are neither queries nor writes -> not_a_query (wherever they appear).
_NON_QUERY_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Attach",
        "Detach",
        "Install",
        "Pragma",
        "Set",
        "Use",
        "Transaction",
        "Commit",
        "Rollback",
        "Describe",
        "Summarize",
        "Show",
        "Execute",
        "Declare",
        "Kill",
        "Analyze",
        "Cache",
        "Uncache",
        "Refresh",
    )
    if hasattr(exp, name)
)

# Function names (lower case) that read files or reach outside the database.
_FILE_FUNCTIONS = frozenset(
    {
        "glob",
        "sniff_csv",
        "parquet_scan",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "parquet_bloom_probe",
        "iceberg_scan",
        "iceberg_metadata",
        "iceberg_snapshots",
        "delta_scan",
        "sqlite_scan",
        "sqlite_attach",
        "postgres_scan",
        "postgres_attach",
        "mysql_scan",
        "st_read",
        "load_extension",
        "http_get",
        "http_post",
    }
)
_FILE_PREFIXES = (
    "read_",
    "parquet_",
    "iceberg_",
    "delta_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "http",
)
_FILE_SUFFIXES = ("_scan",)

# Environment, settings, catalog introspection, dynamic SQL, sequences, variables.
_FORBIDDEN_FUNCTIONS = frozenset(
    {
        "getenv",
        "current_setting",
        "query",
        "query_table",
        "getvariable",
        "set_variable",
        "which_secret",
        "checkpoint",
        "force_checkpoint",
        "nextval",
        "currval",
        "setval",
        "json_execute_serialized_sql",
        "json_serialize_sql",
        "json_deserialize_sql",
        "from_substrait",
        "from_substrait_json",
        "get_substrait",
        "get_substrait_json",
        "sql_auto_complete",
        "current_database",
        "current_catalog",
        "current_schema",
        "current_schemas",
        "database_size",
        "enable_profiling",
        "disable_profiling",
        "python_map_function",
        "summary",
        "test_all_types",
    }
)
_FORBIDDEN_PREFIXES = ("duckdb_", "pragma_", "ducklake_")

_PATH_CHARS = frozenset("/\\:.*~?$")

# sqlglot logs a warning when it falls back to a Command; the guard reports it instead.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def _refuse(code: str, reason: str) -> UnsafeQuery:
    assert code in REFUSAL_CODES, code
    return UnsafeQuery(code, reason)


def check_sql(sql: str) -> exp.Expression:
    """Parse ``sql`` and return its sqlglot tree if it is one safe, read-only query.

    Raises :class:`UnsafeQuery` (``code`` from :data:`REFUSAL_CODES`) otherwise.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise _refuse("empty", "no SQL given; send one SELECT query over the logged-data tables")
    if len(sql) > MAX_SQL_CHARS:
        raise _refuse(
            "too_long", f"the query is {len(sql)} characters; keep it under {MAX_SQL_CHARS}"
        )
    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _refuse("parse_error", f"could not parse the SQL as DuckDB: {first[:200]}") from None
    except RecursionError:
        raise _refuse("parse_error", "the query is nested too deeply to check") from None
    if not statements:
        raise _refuse("empty", "no SQL statement found (only comments or semicolons)")
    if len(statements) > 1:
        raise _refuse(
            "multiple_statements",
            f"found {len(statements)} statements; send exactly one query with no ';' between statements",
        )
    tree = statements[0]
    nodes = list(tree.walk())
    for node in nodes:
        if isinstance(node, exp.Command):
            word = str(node.this or "").split()[0:1]
            raise _refuse(
                "unsupported_statement",
                f"'{' '.join(word) or 'this statement'}' is not allowed; only SELECT queries run here",
            )
    for node in nodes:
        if isinstance(node, _WRITE_NODES):
            what = "SELECT ... INTO" if isinstance(node, exp.Into) else _statement_word(node)
            raise _refuse(
                "write_operation",
                f"{what} is a write; the data are read-only, use a plain SELECT (CTEs are fine)",
            )
    for node in nodes:
        if isinstance(node, _NON_QUERY_NODES):
            raise _refuse(
                "not_a_query",
                f"{_statement_word(node)} is not a query; only SELECT / UNION / INTERSECT / EXCEPT run here",
            )
    if not isinstance(tree, (exp.Select, exp.SetOperation, exp.Subquery)):
        raise _refuse(
            "not_a_query",
            f"{_statement_word(tree)} is not a query; only SELECT / UNION / INTERSECT / EXCEPT run here",
        )
    for node in nodes:
        if isinstance(node, exp.Func):
            _check_function(node)
    for node in nodes:
        if isinstance(node, exp.Table):
            _check_table(node, sql)
    return tree


def _statement_word(node: exp.Expression) -> str:
    """The statement's leading keyword as written back by sqlglot (``DROP``, ``SET``, ...)."""
    try:
        words = node.sql(dialect="duckdb", comments=False).split()
    except Exception:  # pragma: no cover - generator gaps
        words = []
    return words[0].upper() if words else node.key.upper()


def checked_sql(sql: str) -> str:
    """:func:`check_sql`, then the checked tree rendered (DuckDB dialect, no comments) to run."""
    return check_sql(sql).sql(dialect="duckdb", comments=False)


# ------------------------------------------------------------------------ functions


def _function_names(node: exp.Func) -> set[str]:
    """Every name under which ``node`` could reach DuckDB (lower case)."""
    names: set[str] = set()
    if isinstance(node, exp.Anonymous):
        names.add(str(node.this).lower())
    else:
        names.add(node.sql_name().lower())
        try:
            rendered = node.sql(dialect="duckdb", comments=False)
        except Exception:  # a node the generator cannot render is not executable anyway
            rendered = ""
        head = rendered.split("(", 1)[0].strip().strip('"').lower()
        if head and head.replace("_", "").isalnum():
            names.add(head)
    return names


def _classify_function(name: str) -> str | None:
    if name in _FILE_FUNCTIONS or name.startswith(_FILE_PREFIXES) or name.endswith(_FILE_SUFFIXES):
        return "file_access"
    if name in _FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES):
        return "forbidden_function"
    return None


def _check_function(node: exp.Func) -> None:
    for name in sorted(_function_names(node)):
        code = _classify_function(name)
        if code == "file_access":
            raise _refuse(
                "file_access",
                f"{name}() reads files or the network; query the tables {_allowed_list()} instead",
            )
        if code == "forbidden_function":
            raise _refuse(
                "forbidden_function",
                f"{name}() touches the environment, settings, catalog or dynamic SQL; "
                "use describe_data for the schema and plain SQL over the tables",
            )


# ------------------------------------------------------------------------ tables


def _allowed_list() -> str:
    return ", ".join(sorted(ALLOWED_TABLES))


def _check_table(table: exp.Table, sql: str) -> None:
    source = table.this
    if isinstance(source, exp.Func):
        names = _function_names(source)
        if not names & ALLOWED_TABLE_FUNCTIONS:
            name = sorted(names)[0]
            raise _refuse(
                "table_function",
                f"table function {name}() is not allowed (only range, generate_series, unnest); "
                f"read the tables {_allowed_list()}",
            )
        return
    if not isinstance(source, exp.Identifier):
        raise _refuse(
            "table_not_allowed",
            f"unsupported table source {source.sql(dialect='duckdb')[:60]!r}; "
            f"read the tables {_allowed_list()}",
        )
    name = source.name
    start = (source.meta or {}).get("start")
    string_literal = isinstance(start, int) and 0 <= start < len(sql) and sql[start] == "'"
    if string_literal or (source.quoted and any(ch in _PATH_CHARS for ch in name)):
        raise _refuse(
            "file_access",
            f"{name!r} looks like a file path; files cannot be read, query the tables {_allowed_list()}",
        )
    catalog, db = table.catalog, table.db
    if catalog or (db and db.lower() != "main"):
        qualified = ".".join(p for p in (catalog, db, name) if p)
        raise _refuse(
            "table_not_allowed",
            f"{qualified!r} is outside the logged data; use unqualified table names: {_allowed_list()}",
        )
    lowered = name.lower()
    if lowered in ALLOWED_TABLES:
        return
    if not db and lowered in _visible_ctes(table):
        return
    raise _refuse(
        "table_not_allowed",
        f"table {name!r} is not readable; the logged-data tables are {_allowed_list()}",
    )


def _visible_ctes(node: exp.Expression) -> set[str]:
    """CTE names in scope at ``node``: earlier CTEs of each enclosing WITH (itself too if
    RECURSIVE), and all CTEs of an enclosing query whose body contains ``node``."""
    visible: set[str] = set()
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.With):
            ctes = list(parent.expressions)
            idx = next((i for i, c in enumerate(ctes) if c is child), len(ctes))
            upto = idx + 1 if parent.args.get("recursive") else idx
            visible.update(c.alias_or_name.lower() for c in ctes[:upto])
        else:
            with_ = parent.args.get("with_") or parent.args.get("with")
            if isinstance(with_, exp.With) and with_ is not child:
                visible.update(c.alias_or_name.lower() for c in with_.expressions)
        child, parent = parent, parent.parent
    return visible
