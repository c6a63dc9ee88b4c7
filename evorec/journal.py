"""The Experiment Journal: one durable DuckDB store shared by the offline and online loops.

One row per experiment (who proposed which delta against which Φ, why, the linter's verdict,
the proxy and online results, its :class:`Status`) and an **append-only** event table holding
every status change and every result written, so nothing is ever overwritten or lost: the
experiment row is a convenient summary, the events are the history.

Lifecycle (an explicit state machine, like Optuna's ``TrialState``)::

    DRAFT ──► REJECTED | PROXY_WORSE | FAILED                  (offline, terminal)
    DRAFT ──► PROXY_BETTER ──► PROPOSED                         (promotion to the online queue)
    PROPOSED ──► VALIDATED ──► TRAINING ──► TRAINED ──► LIVE
    LIVE ──► LAUNCHED | NOT_LAUNCHED                            (the A/B read-out, terminal)
    any online phase ──► FAILED | ABORTED                       (terminal)

A transition to the status an experiment already has is a no-op, so a loop that crashed and
resumes can repeat its last step safely; anything else off the graph raises
:class:`IllegalTransition`.

Concurrency: DuckDB lets one process at a time open a file read-write. Every operation
therefore opens its own connection under an exclusive ``fcntl.flock`` on a sibling
``<journal>.lock`` file and closes it before releasing the lock (about 20-40 ms per
operation); opening retries with a short backoff if some process outside the lock holds the
file. Writes are single transactions.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from evorec.errors import ConfigError, EvorecError, InvalidDelta

__all__ = [
    "HISTORY_MODES",
    "IN_FLIGHT",
    "TERMINAL",
    "TRANSITIONS",
    "ExperimentRecord",
    "IllegalTransition",
    "Journal",
    "JournalError",
    "Status",
    "UnknownExperiment",
    "improvement_of",
]


class Status(StrEnum):
    """Where an experiment stands. Values are the names (``"PROXY_BETTER"``)."""

    DRAFT = "DRAFT"
    """Just created by the offline loop; no proxy outcome yet."""
    REJECTED = "REJECTED"
    """The delta did not apply or validate, or the linter refused it."""
    PROXY_WORSE = "PROXY_WORSE"
    """The cheap proxy did not show a significant improvement over the baseline."""
    PROXY_BETTER = "PROXY_BETTER"
    """The proxy showed a significant improvement; a candidate for promotion."""
    PROPOSED = "PROPOSED"
    """Queued for the online loop (promoted, or submitted by a human)."""
    VALIDATED = "VALIDATED"
    """The online loop applied the delta to production Φ and checked constraints."""
    TRAINING = "TRAINING"
    """Full-budget training is under way."""
    TRAINED = "TRAINED"
    """A hash-verified model artifact exists."""
    LIVE = "LIVE"
    """In a (simulated) A/B test."""
    ABORTED = "ABORTED"
    """Stopped by a guardrail, a failed health check or a human."""
    LAUNCHED = "LAUNCHED"
    """The A/B read-out was positive; the candidate became production."""
    NOT_LAUNCHED = "NOT_LAUNCHED"
    """The A/B read-out did not justify a launch."""
    FAILED = "FAILED"
    """An error stopped the experiment (the error text says which)."""


#: The legal transition graph: status -> statuses it may move to.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset(
        {Status.REJECTED, Status.PROXY_WORSE, Status.PROXY_BETTER, Status.FAILED}
    ),
    Status.PROXY_BETTER: frozenset({Status.PROPOSED}),
    Status.PROPOSED: frozenset({Status.VALIDATED, Status.FAILED, Status.ABORTED}),
    Status.VALIDATED: frozenset({Status.TRAINING, Status.FAILED, Status.ABORTED}),
    Status.TRAINING: frozenset({Status.TRAINED, Status.FAILED, Status.ABORTED}),
    Status.TRAINED: frozenset({Status.LIVE, Status.FAILED, Status.ABORTED}),
    Status.LIVE: frozenset({Status.ABORTED, Status.LAUNCHED, Status.NOT_LAUNCHED, Status.FAILED}),
    Status.REJECTED: frozenset(),
    Status.PROXY_WORSE: frozenset(),
    Status.ABORTED: frozenset(),
    Status.LAUNCHED: frozenset(),
    Status.NOT_LAUNCHED: frozenset(),
    Status.FAILED: frozenset(),
}

#: Statuses nothing leaves.
TERMINAL: frozenset[Status] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

#: Online phases an experiment can be interrupted in (resumed first by ``next_in_queue``).
IN_FLIGHT: tuple[Status, ...] = (Status.VALIDATED, Status.TRAINING, Status.TRAINED, Status.LIVE)

#: Statuses a new experiment may start in (DRAFT offline, PROPOSED for a human submission,
#: REJECTED for a proposal that never got as far as a valid delta).
_INITIAL = frozenset({Status.DRAFT, Status.PROPOSED, Status.REJECTED})

#: ``render_history`` modes: the paper's context ablation.
HISTORY_MODES = ("sorted", "topk", "unsorted", "none")


class JournalError(EvorecError, RuntimeError):
    """The journal was asked for something it cannot do (bad file, conflicting content)."""


class IllegalTransition(JournalError):
    """A status change off the transition graph (``PROPOSED → LIVE``, ``LAUNCHED → TRAINING``)."""

    def __init__(self, experiment_id: str, current: Status, requested: Status) -> None:
        allowed = sorted(s.value for s in TRANSITIONS[current])
        hint = (
            f"allowed from {current.value}: {', '.join(allowed)}"
            if allowed
            else (f"{current.value} is terminal")
        )
        super().__init__(
            f"illegal transition for {experiment_id}: {current.value} → {requested.value} ({hint})"
        )
        self.experiment_id = experiment_id
        self.current = current.value
        self.requested = requested.value


class UnknownExperiment(JournalError, KeyError):
    """No experiment with this id (also a ``KeyError``)."""

    def __init__(self, experiment_id: str) -> None:
        super().__init__(f"no experiment {experiment_id!r} in the journal")
        self.experiment_id = experiment_id

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ExperimentRecord:
    """One experiment as the journal holds it."""

    id: str
    """Short unique id, e.g. ``exp-000012-ab12``."""
    surface: str
    """Surface the experiment targets (``home_feed``, ...)."""
    author: str
    """Who proposed it: a proposer name (``builtin``, ``gemini:...``) or a person."""
    persona: str | None
    """Persona that proposed it (optimizer, architecture, reward), None for humans."""
    parent_phi_hash: str
    """Hash of the Φ the delta was written against."""
    delta: list[dict[str, Any]]
    """The RFC 6902 JSON Patch."""
    hypothesis: str
    """Why the change should help."""
    lint: dict[str, Any] | None
    """The linter's verdict (``{"ok": bool, "problems": [...]}``), None if not linted."""
    proxy_result: dict[str, Any] | None
    """The offline proxy's outcome; ``improvement`` (higher is better) orders the history."""
    online_result: dict[str, Any] | None
    """The online loop's outcome (A/B read-out and decision, or the failure)."""
    status: Status
    """Current status."""
    error: str | None
    """The last error text recorded, if any."""
    created_at: str
    """ISO 8601 UTC time of creation."""
    updated_at: str
    """ISO 8601 UTC time of the last change."""

    @property
    def improvement(self) -> float | None:
        """The proxy improvement over the baseline (higher is better), if known."""
        return improvement_of(self.proxy_result)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (status as its string value)."""
        data = asdict(self)
        data["status"] = self.status.value
        return data


def improvement_of(proxy_result: Mapping[str, Any] | None) -> float | None:
    """Proxy improvement from a proxy result: ``improvement``, else ``baseline_loss - loss``."""
    if not proxy_result:
        return None
    value = proxy_result.get("improvement")
    if value is None and "loss" in proxy_result and "baseline_loss" in proxy_result:
        try:
            value = float(proxy_result["baseline_loss"]) - float(proxy_result["loss"])
        except (TypeError, ValueError):
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def delta_key(delta: Any) -> str:
    """Canonical text of a delta (sorted keys), to compare deltas by content."""
    return json.dumps(delta, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------------------ storage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL,
    surface VARCHAR NOT NULL,
    author VARCHAR NOT NULL,
    persona VARCHAR,
    parent_phi_hash VARCHAR NOT NULL,
    delta VARCHAR NOT NULL,
    hypothesis VARCHAR NOT NULL,
    lint VARCHAR,
    proxy_result VARCHAR,
    online_result VARCHAR,
    status VARCHAR NOT NULL,
    error VARCHAR,
    created_at VARCHAR NOT NULL,
    updated_at VARCHAR NOT NULL,
    queued_seq BIGINT
);
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT NOT NULL,
    experiment_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    from_status VARCHAR,
    to_status VARCHAR,
    note VARCHAR,
    error VARCHAR,
    payload VARCHAR,
    recorded_at VARCHAR NOT NULL
);
"""

_COLUMNS = (
    "id, surface, author, persona, parent_phi_hash, delta, hypothesis, lint, proxy_result, "
    "online_result, status, error, created_at, updated_at"
)

_EVENT_COLUMNS = (
    "seq, experiment_id, kind, from_status, to_status, note, error, payload, recorded_at"
)

#: Experiment content that identifies it (what an idempotent create/import compares).
_CONTENT = ("surface", "author", "persona", "parent_phi_hash", "delta", "hypothesis")

_OPEN_ATTEMPTS = 40

#: Journal files whose tables this process has already created (saves a connection per
#: ``Journal(path)``, which the online graph builds in every node).
_READY: set[str] = set()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"value is not JSON-serialisable: {exc}") from None


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _status(value: Status | str) -> Status:
    try:
        return value if isinstance(value, Status) else Status(str(value).upper())
    except ValueError:
        names = ", ".join(s.value for s in Status)
        raise JournalError(f"unknown status {value!r} (expected one of {names})") from None


def _record(row: Sequence[Any]) -> ExperimentRecord:
    return ExperimentRecord(
        id=row[0],
        surface=row[1],
        author=row[2],
        persona=row[3],
        parent_phi_hash=row[4],
        delta=json.loads(row[5]),
        hypothesis=row[6],
        lint=_load(row[7]),
        proxy_result=_load(row[8]),
        online_result=_load(row[9]),
        status=Status(row[10]),
        error=row[11],
        created_at=row[12],
        updated_at=row[13],
    )


def _check_delta(delta: Any) -> list[dict[str, Any]]:
    from evorec.delta import parse_patch

    try:
        ops = parse_patch(delta)
    except InvalidDelta as exc:
        raise JournalError(f"cannot journal this delta: {exc}") from None
    return [dict(op) if isinstance(op, Mapping) else op for op in ops]


class Journal:
    """The Experiment Journal in one DuckDB file (created on first use).

    Every method opens and closes its own connection under a file lock, so any number of
    ``Journal`` objects in any number of processes may share one file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise JournalError(f"journal path is a directory: {self.path}")
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        key = str(self.path.resolve())
        if key not in _READY or not self.path.exists():
            with self._connect() as con:
                con.execute(_SCHEMA)
            _READY.add(key)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # ------------------------------------------------------------------ connections

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        import duckdb

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(self._lock_path, "a+")  # noqa: SIM115 - held for the block below
        except OSError as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc.strerror}") from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                con = self._open(duckdb)
                try:
                    yield con
                finally:
                    con.close()
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _open(self, duckdb: Any) -> Any:
        delay = 0.01
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                return duckdb.connect(str(self.path), config={"threads": 1})
            except duckdb.IOException as exc:
                # Another process (outside our lock, e.g. a DuckDB shell) holds the file.
                if "lock" not in str(exc).lower() or attempt == _OPEN_ATTEMPTS - 1:
                    raise JournalError(f"cannot open journal {self.path}: {exc}") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except duckdb.Error as exc:
                raise JournalError(f"cannot open journal {self.path}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    @staticmethod
    def _next_event_seq(con: Any) -> int:
        return int(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM events").fetchone()[0])

    @staticmethod
    def _append_event(
        con: Any,
        experiment_id: str,
        kind: str,
        *,
        from_status: str | None = None,
        to_status: str | None = None,
        note: str | None = None,
        error: str | None = None,
        payload: Any = None,
        at: str | None = None,
    ) -> int:
        """The only write the events table ever sees: an INSERT."""
        seq = Journal._next_event_seq(con)
        con.execute(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                seq,
                experiment_id,
                kind,
                from_status,
                to_status,
                note,
                error,
                _dump(payload),
                at or _now(),
            ],
        )
        return seq

    @staticmethod
    def _fetch(con: Any, experiment_id: str) -> ExperimentRecord:
        row = con.execute(
            f"SELECT {_COLUMNS} FROM experiments WHERE id = ?", [experiment_id]
        ).fetchone()
        if row is None:
            raise UnknownExperiment(experiment_id)
        return _record(row)

    # -------------------------------------------------------------------- writing

    def create(
        self,
        *,
        surface: str,
        author: str,
        parent_phi_hash: str,
        delta: Sequence[Mapping[str, Any]],
        hypothesis: str,
        status: Status | str = Status.DRAFT,
        persona: str | None = None,
        lint: Mapping[str, Any] | None = None,
        experiment_id: str | None = None,
    ) -> ExperimentRecord:
        """Record a new experiment; returns it.

        ``status`` may be DRAFT (offline proposal), PROPOSED (a human submission, queued at
        once) or REJECTED (refused before any proxy). With ``experiment_id`` the call is
        idempotent: an existing experiment with that id and the same content is returned
        unchanged; different content raises :class:`JournalError`.
        """
        status = _status(status)
        if status not in _INITIAL:
            allowed = ", ".join(sorted(s.value for s in _INITIAL))
            raise JournalError(f"a new experiment starts as one of {allowed}, not {status.value}")
        ops = _check_delta(delta)
        for name, value in (("surface", surface), ("author", author), ("hypothesis", hypothesis)):
            if not isinstance(value, str) or not value.strip():
                raise JournalError(f"an experiment needs a non-empty {name}")
        persona = None if persona is None else str(getattr(persona, "value", persona))
        content = {
            "surface": surface,
            "author": author,
            "persona": persona,
            "parent_phi_hash": parent_phi_hash,
            "delta": ops,
            "hypothesis": hypothesis,
        }
        with self._transaction() as con:
            if experiment_id is not None:
                row = con.execute(
                    f"SELECT {_COLUMNS} FROM experiments WHERE id = ?", [experiment_id]
                ).fetchone()
                if row is not None:
                    existing = _record(row)
                    self._same_content(existing, content)
                    return existing
            seq = int(
                con.execute("SELECT coalesce(max(seq), 0) + 1 FROM experiments").fetchone()[0]
            )
            exp_id = experiment_id or f"exp-{seq:06d}-{secrets.token_hex(2)}"
            now = _now()
            event_seq = self._append_event(
                con,
                exp_id,
                "created",
                to_status=status.value,
                payload={"delta": ops, "hypothesis": hypothesis},
                at=now,
            )
            con.execute(
                "INSERT INTO experiments (id, seq, surface, author, persona, parent_phi_hash, delta, "
                "hypothesis, lint, status, created_at, updated_at, queued_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    exp_id,
                    seq,
                    surface,
                    author,
                    persona,
                    parent_phi_hash,
                    _dump(ops),
                    hypothesis,
                    _dump(dict(lint) if lint is not None else None),
                    status.value,
                    now,
                    now,
                    event_seq if status is Status.PROPOSED else None,
                ],
            )
            if lint is not None:
                self._append_event(con, exp_id, "lint", payload=dict(lint), at=now)
            return self._fetch(con, exp_id)

    @staticmethod
    def _same_content(existing: ExperimentRecord, content: Mapping[str, Any]) -> None:
        differs = [k for k in _CONTENT if delta_key(getattr(existing, k)) != delta_key(content[k])]
        if differs:
            raise JournalError(
                f"experiment {existing.id} already exists with a different {', '.join(differs)}"
            )

    def transition(
        self,
        experiment_id: str,
        status: Status | str,
        *,
        note: str | None = None,
        error: str | None = None,
    ) -> ExperimentRecord:
        """Move an experiment to ``status`` and append the event; returns the updated record.

        A transition to the status it already has changes nothing (idempotent resume); one
        off the graph in :data:`TRANSITIONS` raises :class:`IllegalTransition`.
        """
        target = _status(status)
        with self._transaction() as con:
            record = self._fetch(con, experiment_id)
            if record.status is target:
                return record
            if target not in TRANSITIONS[record.status]:
                raise IllegalTransition(experiment_id, record.status, target)
            now = _now()
            seq = self._append_event(
                con,
                experiment_id,
                "status",
                from_status=record.status.value,
                to_status=target.value,
                note=note,
                error=error,
                at=now,
            )
            con.execute(
                "UPDATE experiments SET status = ?, error = coalesce(?, error), updated_at = ?, "
                "queued_seq = CASE WHEN ? THEN ? ELSE queued_seq END WHERE id = ?",
                [target.value, error, now, target is Status.PROPOSED, seq, experiment_id],
            )
            return self._fetch(con, experiment_id)

    def _set_json(
        self, experiment_id: str, column: str, kind: str, value: Mapping[str, Any]
    ) -> ExperimentRecord:
        if not isinstance(value, Mapping):
            raise JournalError(f"{kind} must be a JSON object, got {type(value).__name__}")
        data = dict(value)
        with self._transaction() as con:
            self._fetch(con, experiment_id)
            now = _now()
            self._append_event(con, experiment_id, kind, payload=data, at=now)
            con.execute(
                f"UPDATE experiments SET {column} = ?, updated_at = ? WHERE id = ?",
                [_dump(data), now, experiment_id],
            )
            return self._fetch(con, experiment_id)

    def set_proxy_result(self, experiment_id: str, result: Mapping[str, Any]) -> ExperimentRecord:
        """Record the proxy outcome (put the improvement over the baseline in ``improvement``)."""
        return self._set_json(experiment_id, "proxy_result", "proxy_result", result)

    def set_online_result(self, experiment_id: str, result: Mapping[str, Any]) -> ExperimentRecord:
        """Record the online outcome (A/B read-out and decision, or the failure)."""
        return self._set_json(experiment_id, "online_result", "online_result", result)

    def set_lint(self, experiment_id: str, verdict: Mapping[str, Any]) -> ExperimentRecord:
        """Record the linter's verdict (``{"ok": bool, "problems": [...]}``)."""
        return self._set_json(experiment_id, "lint", "lint", verdict)

    # -------------------------------------------------------------------- reading

    def get(self, experiment_id: str) -> ExperimentRecord:
        """One experiment; :class:`UnknownExperiment` (a ``KeyError``) if there is none."""
        with self._connect() as con:
            return self._fetch(con, experiment_id)

    def records(
        self,
        status: Status | str | Sequence[Status | str] | None = None,
        surface: str | None = None,
    ) -> list[ExperimentRecord]:
        """All experiments in creation order, optionally of some statuses and one surface."""
        where, params = [], []
        if status is not None:
            wanted = [status] if isinstance(status, str | Status) else list(status)
            values = [_status(s).value for s in wanted]
            where.append(f"status IN ({', '.join('?' * len(values))})")
            params.extend(values)
        if surface is not None:
            where.append("surface = ?")
            params.append(surface)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM experiments{clause} ORDER BY seq", params
            ).fetchall()
        return [_record(r) for r in rows]

    def queue(self, surface: str | None = None) -> list[ExperimentRecord]:
        """PROPOSED experiments waiting for the online loop, first promoted first."""
        params: list[Any] = [Status.PROPOSED.value]
        clause = ""
        if surface is not None:
            clause = " AND surface = ?"
            params.append(surface)
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM experiments WHERE status = ?{clause} ORDER BY queued_seq, seq",
                params,
            ).fetchall()
        return [_record(r) for r in rows]

    def next_in_queue(self, surface: str | None = None) -> ExperimentRecord | None:
        """What the online loop should work on: an experiment already in an online phase
        (VALIDATED/TRAINING/TRAINED/LIVE: resume it), else the head of the PROPOSED FIFO."""
        in_flight = [s.value for s in IN_FLIGHT]
        params: list[Any] = [*in_flight, Status.PROPOSED.value]
        clause = ""
        if surface is not None:
            clause = " AND surface = ?"
            params.append(surface)
        marks = ", ".join("?" * len(in_flight))
        with self._connect() as con:
            row = con.execute(
                f"SELECT {_COLUMNS} FROM experiments "
                f"WHERE (status IN ({marks}) OR status = ?){clause} "
                f"ORDER BY CASE WHEN status = 'PROPOSED' THEN 1 ELSE 0 END, queued_seq, seq LIMIT 1",
                params,
            ).fetchone()
        return None if row is None else _record(row)

    def events(self, experiment_id: str | None = None) -> list[dict[str, Any]]:
        """The append-only history, oldest first (optionally of one experiment)."""
        clause, params = "", []
        if experiment_id is not None:
            clause, params = " WHERE experiment_id = ?", [experiment_id]
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events{clause} ORDER BY seq", params
            ).fetchall()
        names = [c.strip() for c in _EVENT_COLUMNS.split(",")]
        out = []
        for row in rows:
            event = dict(zip(names, row, strict=True))
            event["payload"] = _load(event["payload"])
            out.append(event)
        return out

    # ---------------------------------------------------------- export and warm start

    def export(self, path: str | os.PathLike[str]) -> int:
        """Write every experiment with its events as JSON lines (atomically); returns the count."""
        records = self.records()
        by_id: dict[str, list[dict[str, Any]]] = {}
        for event in self.events():
            by_id.setdefault(event["experiment_id"], []).append(event)
        out = Path(path)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=out.name + ".", dir=out.parent)
        except OSError as exc:
            raise JournalError(f"cannot write {out}: {exc.strerror}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                line = record.to_dict()
                line["events"] = [
                    {k: v for k, v in e.items() if k not in ("seq", "experiment_id")}
                    for e in by_id.get(record.id, [])
                ]
                handle.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
        os.replace(tmp, out)
        return len(records)

    def import_file(self, path: str | os.PathLike[str]) -> int:
        """Warm start: import prior experiments from JSON lines or a JSON list; returns how
        many were new. Experiments whose id is already present are skipped (so importing a
        file twice adds nothing); an entry without an id gets one derived from its content.

        Each entry needs ``delta`` and ``hypothesis``; ``status`` defaults from
        ``proxy_result.improvement`` (PROXY_BETTER if > 0, else PROXY_WORSE). Other fields
        (surface, author, persona, parent_phi_hash, lint, proxy_result, online_result,
        error, created_at, events) are optional. See ``journal export`` for the full form.
        """
        entries = _read_entries(Path(path))
        rows = [_normalise_entry(entry, where) for where, entry in entries]
        added = 0
        with self._transaction() as con:
            for row in rows:
                existing = con.execute(
                    f"SELECT {_COLUMNS} FROM experiments WHERE id = ?", [row["id"]]
                ).fetchone()
                if existing is not None:
                    self._same_content(_record(existing), row)
                    continue
                self._insert_imported(con, row)
                added += 1
        return added

    def _insert_imported(self, con: Any, row: dict[str, Any]) -> None:
        seq = int(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM experiments").fetchone()[0])
        events = row.pop("events")
        queued = None
        if events:
            for event in events:
                event_seq = self._append_event(
                    con,
                    row["id"],
                    event.get("kind") or "status",
                    from_status=event.get("from_status"),
                    to_status=event.get("to_status"),
                    note=event.get("note"),
                    error=event.get("error"),
                    payload=event.get("payload"),
                    at=event.get("recorded_at") or row["created_at"],
                )
                if event.get("to_status") == Status.PROPOSED.value:
                    queued = event_seq
        now = _now()
        event_seq = self._append_event(
            con, row["id"], "imported", to_status=row["status"], note=row.pop("source"), at=now
        )
        if row["status"] == Status.PROPOSED.value and queued is None:
            queued = event_seq
        con.execute(
            f"INSERT INTO experiments ({_COLUMNS}, seq, queued_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                row["id"],
                row["surface"],
                row["author"],
                row["persona"],
                row["parent_phi_hash"],
                _dump(row["delta"]),
                row["hypothesis"],
                _dump(row["lint"]),
                _dump(row["proxy_result"]),
                _dump(row["online_result"]),
                row["status"],
                row["error"],
                row["created_at"],
                row["updated_at"],
                seq,
                queued,
            ],
        )

    # ------------------------------------------------------------------ prompts

    def render_history(
        self,
        mode: str = "sorted",
        k: int = 10,
        persona: str | None = None,
        *,
        surface: str | None = None,
    ) -> str:
        """The journal as prompt text — the paper's context ablation.

        ``sorted``: every finished experiment, best proxy improvement first (the paper's best
        setting); ``topk``: the first ``k`` of that order; ``unsorted``: every experiment in
        creation order; ``none``: the empty string. ``persona`` keeps that persona's
        experiments (plus those without a persona, e.g. human ones).
        """
        if mode not in HISTORY_MODES:
            raise ConfigError(
                f"unknown history mode {mode!r} (expected one of {', '.join(HISTORY_MODES)})"
            )
        if mode == "none":
            return ""
        records = [r for r in self.records(surface=surface) if r.status is not Status.DRAFT]
        if persona is not None:
            name = str(getattr(persona, "value", persona))
            records = [r for r in records if r.persona in (None, name)]
        records = order_history(records, mode, k)
        if not records:
            return "(no experiments yet)"
        return "\n\n".join(_render_record(r) for r in records)


def order_history(
    records: Sequence[ExperimentRecord], mode: str, k: int = 10
) -> list[ExperimentRecord]:
    """Order records for a history mode (``sorted``: best improvement first, unknown last)."""
    if mode == "none":
        return []
    if mode == "unsorted":
        return list(records)
    ranked = sorted(
        enumerate(records),
        key=lambda pair: (pair[1].improvement is None, -(pair[1].improvement or 0.0), pair[0]),
    )
    ordered = [r for _, r in ranked]
    if mode == "topk":
        return ordered[: max(k, 0)]
    if mode == "sorted":
        return ordered
    raise ConfigError(f"unknown history mode {mode!r} (expected one of {', '.join(HISTORY_MODES)})")


def _render_record(record: ExperimentRecord) -> str:
    from evorec.delta import render_delta

    who = record.persona or record.author
    imp = record.improvement
    head = f"### {record.id} · {who} · {record.status.value}"
    if imp is not None:
        head += f" · proxy improvement {imp:+.6g}"
    lines = [head, f"hypothesis: {record.hypothesis}", "delta:"]
    try:
        rendered = render_delta(record.delta)
    except EvorecError:
        rendered = delta_key(record.delta)
    lines.extend("  " + line for line in rendered.splitlines())
    if record.proxy_result:
        lines.append("proxy: " + _compact(record.proxy_result))
    if record.online_result:
        lines.append("online: " + _compact(record.online_result))
    if record.lint and not record.lint.get("ok", True):
        lines.append("linter: " + "; ".join(map(str, record.lint.get("problems", []))))
    if record.error:
        lines.append(f"error: {record.error}")
    return "\n".join(lines)


def _compact(data: Mapping[str, Any], limit: int = 400) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------- import helpers


def _read_entries(path: Path) -> list[tuple[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"warm-start file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read warm-start file {path}: {exc.strerror}") from None
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from None
        return [(f"{path} item {i}", entry) for i, entry in enumerate(data)]
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append((f"{path} line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} line {number} is not valid JSON: {exc}") from None
    return entries


def _normalise_entry(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: an experiment must be a JSON object")
    for required in ("delta", "hypothesis"):
        if required not in entry:
            raise ConfigError(f"{where}: missing {required!r}")
    try:
        delta = _check_delta(entry["delta"])
    except JournalError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    proxy = entry.get("proxy_result")
    if "status" in entry:
        try:
            status = _status(entry["status"])
        except JournalError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    else:
        imp = improvement_of(proxy if isinstance(proxy, Mapping) else None)
        if imp is None:
            raise ConfigError(f"{where}: give a 'status' or a 'proxy_result' with an 'improvement'")
        status = Status.PROXY_BETTER if imp > 0 else Status.PROXY_WORSE
    for name in ("lint", "proxy_result", "online_result"):
        if entry.get(name) is not None and not isinstance(entry[name], Mapping):
            raise ConfigError(f"{where}: {name!r} must be a JSON object or null")
    events = entry.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, Mapping) for e in events):
        raise ConfigError(f"{where}: 'events' must be a list of objects")
    row = {
        "surface": str(entry.get("surface") or "home_feed"),
        "author": str(entry.get("author") or "import"),
        "persona": entry.get("persona"),
        "parent_phi_hash": str(entry.get("parent_phi_hash") or "unknown"),
        "delta": delta,
        "hypothesis": str(entry["hypothesis"]),
    }
    content_id = "imp-" + hashlib.sha256(delta_key(row).encode()).hexdigest()[:12]
    now = _now()
    row.update(
        id=str(entry.get("id") or content_id),
        status=status.value,
        lint=entry.get("lint"),
        proxy_result=proxy,
        online_result=entry.get("online_result"),
        error=entry.get("error"),
        created_at=str(entry.get("created_at") or now),
        updated_at=str(entry.get("updated_at") or now),
        events=[dict(e) for e in events],
        source=where,
    )
    return row
