"""Logged data → arrays: bulk-read a DuckDB written by ``evorec simulate``.

Everything is read with a handful of column queries (Arrow/NumPy), never row by row. The
result, :class:`LoggedData`, holds

* the feature tables indexed by id (``user_features[user_id]``, ``doc_topic[doc_id]``, ...),
  exactly the features a :class:`~evorec.simulator.policy.ServingBatch` carries at serving;
* per impression: ``user_id``, ``doc_id``, ``day``, ``position`` and the raw response
  signals (``signals["survey"]`` is NaN where the survey was not asked);
* a train / held-out split **by user**: a user is held out when
  ``splitmix64(user_id) / 2**64 < holdout_fraction`` (a fixed integer hash, so the split is
  the same on every machine, for every Φ and every seed, and no user is on both sides).

``position`` is kept for analysis but is **not** a model input: serving does not know it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evorec.errors import DataError
from evorec.ranker.schema import SIGNALS
from evorec.simulator.schema import SIGNAL_COLUMNS

__all__ = [
    "DataSpec",
    "LoggedData",
    "REQUIRED_COLUMNS",
    "heldout_users",
    "load_logged_data",
    "write_synthetic_logs",
]

#: Tables and columns the ranker reads (a subset of ``simulator.schema.TABLES``).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("user_id", "features"),
    "documents": ("doc_id", "topic", "length", "quality_score", "features", "views"),
    "impressions": (
        "user_id",
        "day",
        "step",
        "position",
        "doc_id",
        *(SIGNAL_COLUMNS[s] for s in SIGNALS),
    ),
}


@dataclass(frozen=True)
class DataSpec:
    """Sizes the model is built for (stored in every artifact)."""

    num_topics: int
    """T: topics, and the length of user and document feature vectors."""
    num_users: int
    """User-id embedding rows (max user id + 1; larger ids are hashed in by modulo)."""
    num_docs: int
    """Document-id embedding rows (max doc id + 1; larger ids are hashed in by modulo)."""
    user_feature_dim: int
    """Length of ``users.features``."""
    doc_feature_dim: int
    """Length of ``documents.features``."""

    def to_dict(self) -> dict[str, int]:
        return {
            "num_topics": self.num_topics,
            "num_users": self.num_users,
            "num_docs": self.num_docs,
            "user_feature_dim": self.user_feature_dim,
            "doc_feature_dim": self.doc_feature_dim,
        }


@dataclass
class LoggedData:
    """Logged impressions joined with user and document features. N impressions."""

    path: str
    """The database it came from."""
    spec: DataSpec
    """Sizes for model building."""
    user_features: np.ndarray
    """[num_users, T] float32, row = user id."""
    doc_topic: np.ndarray
    """[num_docs] int64, row = doc id."""
    doc_length: np.ndarray
    """[num_docs] float32 seconds."""
    doc_quality_score: np.ndarray
    """[num_docs] float32."""
    doc_features: np.ndarray
    """[num_docs, T] float32."""
    doc_views: np.ndarray
    """[num_docs] int64."""
    user_id: np.ndarray
    """[N] int64."""
    doc_id: np.ndarray
    """[N] int64."""
    day: np.ndarray
    """[N] int64."""
    position: np.ndarray
    """[N] int64 (logged; not a model input)."""
    signals: dict[str, np.ndarray]
    """signal name -> [N] float32 (booleans as 0/1; survey NaN where NULL)."""
    heldout: np.ndarray
    """[N] bool: the impression's user is held out."""
    holdout_fraction: float = 0.2
    fingerprint: str = field(default="")
    """Short content hash of the impressions (ids and click), to tell datasets apart."""
    cache: dict[str, object] = field(default_factory=dict, repr=False, compare=False)
    """Tensors built from this data, per device (filled by training; safe to clear)."""

    @property
    def num_impressions(self) -> int:
        return int(self.user_id.shape[0])

    @property
    def train_index(self) -> np.ndarray:
        """[N_train] int64 indices of training impressions."""
        return np.flatnonzero(~self.heldout)

    @property
    def heldout_index(self) -> np.ndarray:
        """[N_heldout] int64 indices of held-out impressions."""
        return np.flatnonzero(self.heldout)

    def summary(self) -> dict[str, object]:
        return {
            "path": self.path,
            "impressions": self.num_impressions,
            "train": int((~self.heldout).sum()),
            "heldout": int(self.heldout.sum()),
            "click_rate": float(self.signals["click"].mean()) if self.num_impressions else 0.0,
            "fingerprint": self.fingerprint,
            **self.spec.to_dict(),
        }


def heldout_users(user_ids: np.ndarray, holdout_fraction: float) -> np.ndarray:
    """[N] bool: ``splitmix64(user_id) / 2**64 < holdout_fraction`` (deterministic)."""
    with np.errstate(over="ignore"):
        z = user_ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53) < holdout_fraction


def _columns(con: object) -> dict[str, set[str]]:
    rows = con.execute(  # type: ignore[attr-defined]
        "SELECT table_name, column_name FROM information_schema.columns"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def _list_column(con: object, sql: str, what: str) -> np.ndarray:
    """A FLOAT[] column as an [rows, width] float32 array (every list the same length)."""
    table = con.execute(sql).to_arrow_table()  # type: ignore[attr-defined]
    col = table.column(0).combine_chunks()
    n = len(col)
    if col.null_count:
        raise DataError(f"{what} has NULL feature vectors")
    values = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    if n == 0:
        return values.reshape(0, 0)
    if values.size % n:
        raise DataError(f"{what} feature vectors have different lengths")
    out = values.reshape(n, values.size // n)
    offsets = col.offsets.to_numpy()
    if not np.all(np.diff(offsets) == out.shape[1]):
        raise DataError(f"{what} feature vectors have different lengths")
    return out


def load_logged_data(
    path: str | Path, *, holdout_fraction: float = 0.2, max_impressions: int | None = None
) -> LoggedData:
    """Read a logged-data DuckDB in bulk; split train/held-out by user (see module doc).

    Raises ``DataError`` when the file, a table or a column is missing, ids do not match,
    a signal other than ``survey`` is NULL or non-finite, or a split would be empty.
    ``max_impressions`` keeps the first N impressions in (day, step, user, position) order.
    """
    import duckdb

    p = Path(path)
    if not p.is_file():
        raise DataError(f"logged-data database not found: {p}")
    if not 0.0 < holdout_fraction < 1.0:
        raise DataError(f"holdout_fraction must lie in (0, 1), got {holdout_fraction}")
    try:
        con = duckdb.connect(str(p), read_only=True)
    except duckdb.Error as exc:
        raise DataError(f"cannot open {p} as a DuckDB database: {exc}") from None
    try:
        return _load(con, p, holdout_fraction, max_impressions)
    except duckdb.Error as exc:
        raise DataError(f"reading {p} failed: {exc}") from None
    finally:
        con.close()


def _load(con: object, p: Path, holdout_fraction: float, max_impressions: int | None) -> LoggedData:
    found = _columns(con)
    missing_tables = [t for t in REQUIRED_COLUMNS if t not in found]
    if missing_tables:
        raise DataError(f"{p} lacks table(s) {', '.join(missing_tables)} (run `evorec simulate`)")
    missing = [
        f"{t}.{c}" for t, cols in REQUIRED_COLUMNS.items() for c in cols if c not in found[t]
    ]
    if missing:
        raise DataError(f"{p} lacks column(s) {', '.join(missing)}")

    q = con.execute  # type: ignore[attr-defined]
    uid = q("SELECT user_id::BIGINT AS u FROM users ORDER BY user_id").fetchnumpy()["u"]
    if uid.size == 0:
        raise DataError(f"{p}: the users table is empty")
    if uid.min() < 0 or np.unique(uid).size != uid.size:
        raise DataError(f"{p}: users.user_id must be unique and non-negative")
    ufeat = _list_column(con, "SELECT features FROM users ORDER BY user_id", "users")
    docs = q(
        "SELECT doc_id::BIGINT AS doc_id, topic::BIGINT AS topic, length::FLOAT AS length, "
        "quality_score::FLOAT AS quality_score, views::BIGINT AS views "
        "FROM documents ORDER BY doc_id"
    ).fetchnumpy()
    did = np.asarray(docs["doc_id"])
    if did.size == 0:
        raise DataError(f"{p}: the documents table is empty")
    if did.min() < 0 or np.unique(did).size != did.size:
        raise DataError(f"{p}: documents.doc_id must be unique and non-negative")
    dfeat = _list_column(con, "SELECT features FROM documents ORDER BY doc_id", "documents")
    for name in ("topic", "length", "quality_score", "views"):
        if np.ma.is_masked(docs[name]) or not np.all(np.isfinite(np.asarray(docs[name], float))):
            raise DataError(f"{p}: documents.{name} has NULL or non-finite values")

    num_users, num_docs = int(uid.max()) + 1, int(did.max()) + 1
    user_features = np.zeros((num_users, ufeat.shape[1]), np.float32)
    user_features[uid] = ufeat
    topic = np.asarray(docs["topic"], np.int64)
    if topic.min() < 0:
        raise DataError(f"{p}: documents.topic must be non-negative")
    num_topics = max(int(topic.max()) + 1, dfeat.shape[1], ufeat.shape[1])
    doc_topic = np.zeros(num_docs, np.int64)
    doc_topic[did] = topic
    doc_length = np.zeros(num_docs, np.float32)
    doc_length[did] = np.asarray(docs["length"], np.float32)
    doc_quality = np.zeros(num_docs, np.float32)
    doc_quality[did] = np.asarray(docs["quality_score"], np.float32)
    doc_views = np.zeros(num_docs, np.int64)
    doc_views[did] = np.asarray(docs["views"], np.int64)
    doc_features = np.zeros((num_docs, dfeat.shape[1]), np.float32)
    doc_features[did] = dfeat

    orphans = q(
        "SELECT count(*) FROM impressions i WHERE i.user_id NOT IN (SELECT user_id FROM users) "
        "OR i.doc_id NOT IN (SELECT doc_id FROM documents)"
    ).fetchone()[0]
    if orphans:
        raise DataError(f"{p}: {orphans} impressions name a user or document that does not exist")

    limit = f" LIMIT {int(max_impressions)}" if max_impressions is not None else ""
    # Signal ``like`` is read from column ``liked`` (SIGNAL_COLUMNS); survey NULL -> NaN.
    sig_sql = ", ".join(
        f'coalesce("{SIGNAL_COLUMNS[s]}"::DOUBLE, \'NaN\'::DOUBLE)::FLOAT AS "{s}"'
        if s == "survey"
        else f'"{SIGNAL_COLUMNS[s]}"::FLOAT AS "{s}"'
        for s in SIGNALS
    )
    imp = q(
        "SELECT user_id::BIGINT AS user_id, doc_id::BIGINT AS doc_id, day::BIGINT AS day, "
        f"position::BIGINT AS position, {sig_sql} FROM impressions "
        f"ORDER BY day, step, user_id, position{limit}"
    ).fetchnumpy()
    n = len(imp["user_id"])
    if n == 0:
        raise DataError(f"{p}: the impressions table is empty")
    signals: dict[str, np.ndarray] = {}
    for s in SIGNALS:
        col = imp[s]
        if s != "survey" and np.ma.is_masked(col):
            raise DataError(f"{p}: impressions.{SIGNAL_COLUMNS[s]} has NULL values")
        arr = np.asarray(np.ma.filled(col, np.nan) if np.ma.isMaskedArray(col) else col, np.float32)
        if s != "survey" and not np.all(np.isfinite(arr)):
            raise DataError(f"{p}: impressions.{SIGNAL_COLUMNS[s]} has non-finite values")
        signals[s] = arr
    user_id = np.asarray(imp["user_id"], np.int64)
    doc_id = np.asarray(imp["doc_id"], np.int64)
    heldout = heldout_users(user_id, holdout_fraction)
    if heldout.all() or not heldout.any():
        raise DataError(
            f"{p}: splitting {np.unique(user_id).size} users by user at holdout_fraction="
            f"{holdout_fraction} leaves an empty {'training' if heldout.all() else 'held-out'} "
            "split; log more users"
        )
    digest = hashlib.sha256()
    for arr in (user_id, doc_id, signals["click"]):
        digest.update(np.ascontiguousarray(arr).tobytes())
    spec = DataSpec(
        num_topics=num_topics,
        num_users=num_users,
        num_docs=num_docs,
        user_feature_dim=int(ufeat.shape[1]),
        doc_feature_dim=int(dfeat.shape[1]),
    )
    return LoggedData(
        path=str(p),
        spec=spec,
        user_features=user_features,
        doc_topic=doc_topic,
        doc_length=doc_length,
        doc_quality_score=doc_quality,
        doc_features=doc_features,
        doc_views=doc_views,
        user_id=user_id,
        doc_id=doc_id,
        day=np.asarray(imp["day"], np.int64),
        position=np.asarray(imp["position"], np.int64),
        signals=signals,
        heldout=heldout,
        holdout_fraction=holdout_fraction,
        fingerprint=digest.hexdigest()[:16],
    )


def _create_sql(table: object) -> str:
    # Column names quoted, so no column name can clash with an SQL keyword.
    cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)  # type: ignore[attr-defined]
    return f"CREATE TABLE {table.name} ({cols})"  # type: ignore[attr-defined]


def write_synthetic_logs(
    path: str | Path,
    *,
    users: int = 200,
    docs: int = 100,
    impressions: int = 5_000,
    topics: int = 6,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """A small logged-data database in the contract's format, for tests and benchmarks.

    Not the simulator: clicks follow a known logistic model of user–document affinity and
    observable quality, so a ranker trained on it has something real to learn. Written in
    bulk through Arrow.
    """
    import duckdb
    import pyarrow as pa

    from evorec.simulator.schema import TABLES

    p = Path(path)
    if p.exists():
        if not overwrite:
            raise DataError(f"{p} exists (pass overwrite=True)")
        p.unlink()
    rng = np.random.default_rng(seed)
    interest = rng.standard_normal((users, topics)).astype(np.float32)
    ufeat = (interest + 0.3 * rng.standard_normal((users, topics))).astype(np.float32)
    topic = rng.integers(0, topics, docs)
    dfeat = (np.eye(topics)[topic] + 0.1 * rng.standard_normal((docs, topics))).astype(np.float32)
    quality = rng.standard_normal(docs).astype(np.float32)
    length = (200.0 * np.exp(0.5 * rng.standard_normal(docs))).astype(np.float32)
    views = np.floor(np.exp(6.0 + rng.standard_normal(docs))).astype(np.int64)

    u = rng.integers(0, users, impressions)
    d = rng.integers(0, docs, impressions)
    affinity = interest[u, topic[d]] + 0.5 * quality[d]
    click = rng.random(impressions) < 1.0 / (1.0 + np.exp(-(2.0 * affinity - 2.0)))
    completion = np.where(click, 1.0 / (1.0 + np.exp(-quality[d])), 0.0)
    watch = completion * length[d]
    like = click & (rng.random(impressions) < 0.3 + 0.2 * np.tanh(quality[d]))
    dismiss = ~click & (rng.random(impressions) < 0.05)
    asked = rng.random(impressions) < 0.1
    survey = np.clip(np.round(3 + quality[d] + rng.standard_normal(impressions)), 1, 5)
    per_step = 5
    order = np.arange(impressions)
    tables = {
        "meta": pa.table(
            {
                "key": ["surface", "seed", "num_topics", "logging_policy"],
                "value": ["synthetic", str(seed), str(topics), "random"],
            }
        ),
        "users": pa.table(
            {
                "user_id": pa.array(np.arange(users), pa.int32()),
                "features": pa.array(list(ufeat), pa.list_(pa.float32())),
            }
        ),
        "documents": pa.table(
            {
                "doc_id": pa.array(np.arange(docs), pa.int32()),
                "topic": pa.array(topic, pa.int32()),
                "length": pa.array(length.astype(np.float64)),
                "quality_score": pa.array(
                    (quality + 0.3 * rng.standard_normal(docs)).astype(np.float64)
                ),
                "features": pa.array(list(dfeat), pa.list_(pa.float32())),
                "views": pa.array(views, pa.int64()),
            }
        ),
        "impressions": pa.table(
            {
                "user_id": pa.array(u, pa.int32()),
                "day": pa.array(order // (users * per_step * 10), pa.int32()),
                "step": pa.array((order // per_step) % 10, pa.int32()),
                "position": pa.array(order % per_step, pa.int32()),
                "doc_id": pa.array(d, pa.int32()),
                "propensity": pa.array(np.full(impressions, per_step / docs)),
                "click": pa.array(click),
                "watch_time": pa.array(watch.astype(np.float64)),
                "completion": pa.array(completion.astype(np.float64)),
                "liked": pa.array(like),
                "dismiss": pa.array(dismiss),
                "survey": pa.array(survey.astype(np.int8), pa.int8(), mask=~asked),
            }
        ),
    }
    con = duckdb.connect(str(p))
    try:
        for name, table in tables.items():
            con.execute(_create_sql(TABLES[name]))
            con.register("_src", table)
            cols = ", ".join(f'"{c}"' for c in TABLES[name].column_names)
            con.execute(f"INSERT INTO {name} SELECT {cols} FROM _src")
            con.unregister("_src")
        con.execute(_create_sql(TABLES["user_days"]))
    finally:
        con.close()
    return p
