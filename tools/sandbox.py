"""The SQL sandbox: where checked queries run, and the second line of defence.

Every query runs on its own DuckDB connection, opened ``read_only=True`` with
``enable_external_access=false`` (no files, network, ATTACH, COPY or extension loading),
extension auto-install/auto-load off, no replacement scans of Python variables, no
spilling to disk, a memory limit and a thread
limit, and ``lock_configuration=true`` so the query cannot ``SET`` any of it back. A timer
thread calls ``interrupt()`` when the wall-clock limit passes. Only ``max_rows + 1`` rows are
ever fetched (the result streams), so a huge result costs no memory here.

:func:`execute_sandboxed` does *not* parse or check the SQL — that is
:func:`evorec.tools.sql_guard.check_sql`'s job, and :func:`run_sql_query` does both. The
executor alone still refuses file reads, writes, ATTACH, INSTALL/LOAD and SET (tested with
the guard bypassed). Temporary objects (``CREATE TEMP ...``) live in the connection's memory
and vanish when it closes; they never reach the database file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from evorec.errors import DataError, UnsafeQuery

__all__ = [
    "QueryResult",
    "execute_sandboxed",
    "fetch_numpy_checked",
    "run_sql_query",
    "sandbox_connection",
]

T = TypeVar("T")

#: Longest text kept for one cell (strings, and lists/structs rendered as JSON).
MAX_CELL_CHARS = 1_000


@dataclass(frozen=True)
class QueryResult:
    """Rows of one query: at most ``max_rows`` of them, with ``truncated`` set if more exist."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_s: float
    sql: str = field(default="", repr=False)

    @property
    def row_count(self) -> int:
        """Rows returned here (not the full result size when ``truncated``)."""
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: columns, types, rows, row_count, truncated, elapsed_s."""
        return {
            "columns": list(self.columns),
            "types": list(self.types),
            "rows": [list(r) for r in self.rows],
            "row_count": self.row_count,
            "truncated": self.truncated,
            "elapsed_s": round(self.elapsed_s, 4),
        }

    def to_text(self, max_cell_chars: int = 40) -> str:
        """A compact aligned table for a model or a terminal, with a footer line."""
        header = [str(c) for c in self.columns]
        body = [[_cell_text(v, max_cell_chars) for v in row] for row in self.rows]
        widths = [max([len(header[i])] + [len(r[i]) for r in body]) for i in range(len(header))]
        lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
        lines.append("-+-".join("-" * w for w in widths))
        for r in body:
            lines.append(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        n = self.row_count
        if self.truncated:
            lines.append(
                f"({n} rows shown; more exist — truncated. Aggregate, filter or add LIMIT.)"
            )
        else:
            lines.append(f"({n} row{'s' if n != 1 else ''})")
        return "\n".join(lines)


def _cell_text(value: Any, limit: int) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = text.replace("\n", "\\n").replace("|", "¦")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _jsonable(value: Any) -> Any:
    """A DuckDB Python value as plain JSON data (long text cut to MAX_CELL_CHARS)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return value if len(value) <= MAX_CELL_CHARS else value[: MAX_CELL_CHARS - 1] + "…"
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value)[: MAX_CELL_CHARS // 2].hex()
    if isinstance(value, (list, tuple)):
        out = [_jsonable(v) for v in value]
    elif isinstance(value, dict):
        out = {str(k): _jsonable(v) for k, v in value.items()}
    else:
        return _jsonable(str(value))
    if len(json.dumps(out, default=str)) > MAX_CELL_CHARS:
        return _jsonable(json.dumps(out, default=str))
    return out


@contextlib.contextmanager
def sandbox_connection(
    db_path: str | Path, *, memory_limit: str = "512MB", threads: int = 1
) -> Iterator[Any]:
    """A read-only, locked-down DuckDB connection to ``db_path`` (closed on exit).

    Raises :class:`DataError` if the file is missing or cannot be opened.
    """
    import duckdb

    path = Path(db_path)
    if not path.is_file():
        raise DataError(f"no logged-data database at {path} (run `evorec simulate` first)")
    if not isinstance(threads, int) or threads < 1:
        raise DataError(f"threads must be a positive integer, got {threads!r}")
    config = {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "max_temp_directory_size": "0B",
        # No replacement scans of Python variables (DataFrames/Arrow tables in scope).
        "python_enable_replacements": False,
        "memory_limit": str(memory_limit),
        "threads": threads,
        "lock_configuration": True,
    }
    try:
        con = duckdb.connect(str(path), read_only=True, config=config)
    except duckdb.Error as exc:
        msg = str(exc).splitlines()[0]
        if "different configuration" in msg:
            msg += " (another connection in this process holds the file open; close it first)"
        raise DataError(f"cannot open {path} read-only: {msg}") from None
    try:
        yield con
    finally:
        con.close()


def _refusal_from(exc: Exception, *, timed_out: bool, timeout_s: float) -> UnsafeQuery:
    import duckdb

    first = (str(exc).splitlines() or [type(exc).__name__])[0].strip()
    if isinstance(exc, duckdb.InterruptException) or timed_out:
        return UnsafeQuery(
            "timeout",
            f"the query ran longer than {timeout_s:g} s and was stopped; "
            "aggregate earlier, filter, or avoid cross joins",
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        return UnsafeQuery(
            "memory_limit",
            "the query needed more memory than allowed; aggregate, filter or select fewer columns",
        )
    lowered = first.lower()
    if isinstance(exc, duckdb.PermissionException) or any(
        s in lowered
        for s in (
            "read-only",
            "read only",
            "configuration has been locked",
            "disabled by configuration",
        )
    ):
        return UnsafeQuery(
            "sandbox_refused",
            f"the read-only sandbox refused it ({first[:160]}); only SELECT over the tables works",
        )
    return UnsafeQuery("sql_error", f"DuckDB: {first[:300]}")


def _execute(
    db_path: str | Path,
    sql: str,
    fetch: Callable[[Any], T],
    *,
    timeout_s: float,
    memory_limit: str,
    threads: int,
) -> T:
    """Run ``sql`` in the sandbox under the timer and return ``fetch(cursor)``."""
    import duckdb

    if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s <= 3600):
        raise DataError(f"timeout_s must be in (0, 3600] seconds, got {timeout_s!r}")
    with sandbox_connection(db_path, memory_limit=memory_limit, threads=threads) as con:
        fired = threading.Event()

        def _stop() -> None:
            fired.set()
            con.interrupt()

        timer = threading.Timer(timeout_s, _stop)
        timer.daemon = True
        timer.start()
        try:
            return fetch(con.execute(sql))
        except duckdb.Error as exc:
            raise _refusal_from(exc, timed_out=fired.is_set(), timeout_s=timeout_s) from None
        finally:
            timer.cancel()


def execute_sandboxed(
    db_path: str | Path,
    sql: str,
    *,
    max_rows: int = 50,
    timeout_s: float = 5.0,
    memory_limit: str = "512MB",
    threads: int = 1,
) -> QueryResult:
    """Run ``sql`` as is in the sandbox (NO parser check — use :func:`run_sql_query`).

    Raises :class:`UnsafeQuery` (``timeout``, ``memory_limit``, ``sandbox_refused`` or
    ``sql_error``) and :class:`DataError` (database missing or unopenable).
    """
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 0:
        raise DataError(f"max_rows must be a non-negative integer, got {max_rows!r}")

    def fetch(cursor: Any) -> tuple[list[Any], list[tuple[Any, ...]]]:
        description = cursor.description or []
        return description, (cursor.fetchmany(max_rows + 1) if description else [])

    t0 = time.perf_counter()
    description, fetched = _execute(
        db_path, sql, fetch, timeout_s=timeout_s, memory_limit=memory_limit, threads=threads
    )
    return QueryResult(
        columns=[d[0] for d in description],
        types=[str(d[1]) for d in description],
        rows=[[_jsonable(v) for v in row] for row in fetched[:max_rows]],
        truncated=len(fetched) > max_rows,
        elapsed_s=time.perf_counter() - t0,
        sql=sql,
    )


def fetch_numpy_checked(
    db_path: str | Path,
    sql: str,
    *,
    timeout_s: float = 10.0,
    memory_limit: str = "512MB",
    threads: int = 1,
) -> dict[str, Any]:
    """Check ``sql`` with the guard and return the whole result as NumPy columns.

    For library helpers that need every row (``label_correlation``); same sandbox and
    refusals as :func:`run_sql_query`.
    """
    from evorec.tools.sql_guard import checked_sql

    return _execute(
        db_path,
        checked_sql(sql),
        lambda cursor: cursor.fetchnumpy(),
        timeout_s=timeout_s,
        memory_limit=memory_limit,
        threads=threads,
    )


def run_sql_query(
    db_path: str | Path,
    sql: str,
    *,
    max_rows: int = 50,
    timeout_s: float = 5.0,
    memory_limit: str = "512MB",
    threads: int = 1,
) -> QueryResult:
    """Check ``sql`` with the guard, then run the checked query in the sandbox.

    ``max_rows`` caps the rows returned (``truncated`` says whether more exist);
    ``timeout_s`` is a wall-clock limit. Raises :class:`UnsafeQuery` with a ``code`` from
    :data:`evorec.tools.sql_guard.REFUSAL_CODES`, or :class:`DataError`.
    """
    from evorec.tools.sql_guard import checked_sql

    return execute_sandboxed(
        db_path,
        checked_sql(sql),
        max_rows=max_rows,
        timeout_s=timeout_s,
        memory_limit=memory_limit,
        threads=threads,
    )
