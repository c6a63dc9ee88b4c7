"""Logged interaction data: run the logging policy in the world and write it to DuckDB.

``simulate(surface, users, days, seed, out)`` serves every user with the documented
logging policy (:class:`~evorec.simulator.policies.LoggingPolicy`: ε-greedy over relevance
plus the observable quality score, ε from the surface) for ``days`` simulated days, and
writes the tables of :mod:`evorec.simulator.schema` — ``meta``, ``users``, ``documents``,
``impressions`` (one row per shown item) and ``user_days`` (one row per user and day).

Each simulated day is one call into RecSim NG's compiled runtime that records the chosen
fields of every step (:meth:`World.record`); the arrays of a whole run are collected in
NumPy and inserted through Arrow in one statement per table. The database is written to a temporary file beside ``out`` and
renamed into place at the end, so an interrupted run never leaves a half-written database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evorec.errors import ConfigError
from evorec.simulator.schema import SIGNAL_COLUMNS, TABLES, create_table_sql
from evorec.simulator.surfaces import Surface, get_surface

__all__ = ["SimulationSummary", "simulate", "validate_sizes"]


@dataclass(frozen=True)
class SimulationSummary:
    """What ``simulate`` wrote."""

    path: str
    surface: str
    users: int
    days: int
    seed: int
    impressions: int
    clicks: int
    active_rate: float
    seconds: float
    """Wall time of the whole call (world build, simulation, DuckDB write)."""
    user_steps_per_s: float
    """Simulation speed after the first day (which includes building and tracing the world)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_sizes(users: Any, days: Any) -> tuple[int, int]:
    """Positive integer users and days, or a :class:`ConfigError`."""
    for name, value in (("users", users), ("days", days)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value}")
    if users > 5_000_000:
        raise ConfigError(f"users must be at most 5,000,000, got {users}")
    return int(users), int(days)


def _check_out(out: str | Path, overwrite: bool) -> Path:
    path = Path(out)
    if path.exists() and not overwrite:
        raise ConfigError(f"output {path} already exists (pass overwrite=True / --overwrite)")
    if path.exists() and path.is_dir():
        raise ConfigError(f"output {path} is a directory")
    if not path.parent.exists():
        raise ConfigError(f"output directory {path.parent} does not exist")
    return path


def _list_column(matrix: np.ndarray) -> Any:
    """[N, T] float32 -> an Arrow list<float> column (DuckDB FLOAT[])."""
    import pyarrow as pa

    n, t = matrix.shape
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))
    offsets = pa.array(np.arange(0, (n + 1) * t, t, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat)


def simulate(
    surface: str | Path | Surface,
    users: int,
    days: int,
    seed: int,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationSummary:
    """Run the logging policy for ``days`` days and write the logged data to ``out``.

    ``progress(day, days)`` is called after each simulated day. Raises
    :class:`ConfigError` for an unknown surface, bad sizes, or an existing ``out``
    without ``overwrite`` — before anything is simulated or written.
    """
    import time

    import duckdb
    import pyarrow as pa

    from evorec.simulator.policies import LoggingPolicy
    from evorec.simulator.world import WORLD_VERSION, World

    surf = get_surface(surface)
    users, days = validate_sizes(users, days)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    path = _check_out(out, overwrite)

    start = time.perf_counter()
    world = World(surf, users, int(seed))
    policy = LoggingPolicy(epsilon=surf.logging_epsilon)
    world.route(np.zeros(users, dtype=np.int64), [policy])
    s_per_day, k = surf.steps_per_day, surf.slate_size

    imp: dict[str, list[np.ndarray]] = {
        c: [] for c in TABLES["impressions"].column_names if c != "survey"
    }
    imp["survey"] = []
    ud: dict[str, list[np.ndarray]] = {c: [] for c in TABLES["user_days"].column_names}
    fields = [
        ("user state", "in_session"),
        ("user state", "active"),
        ("slate docs", "doc_id"),
        ("slate docs", "propensity"),
        *(("user response", signal) for signal in SIGNAL_COLUMNS),
        ("user response", "day_watch_time"),
        ("user response", "day_clicks"),
        ("user response", "satisfaction"),
    ]
    value = world.step(1)  # step 0: the story's initial value
    first = [value[var][f].numpy()[None] for var, f in fields]
    for day in range(days):
        # One compiled call records the whole day ([steps, users, ...] per field).
        n = s_per_day - 1 if day == 0 else s_per_day
        got = world.record(n, fields) if n > 0 else [a[:0] for a in first]
        if day == 0:
            got = [np.concatenate([a, b]) for a, b in zip(first, got, strict=True)]
        rec = dict(zip((f for _, f in fields), got, strict=True))
        rows = rec["in_session"]  # [steps, users]: who saw a slate at each step
        step_idx, user_idx = np.nonzero(rows)  # step-major, then user: the row order
        if step_idx.size:
            imp["user_id"].append(np.repeat(user_idx.astype(np.int32), k))
            imp["day"].append(np.full(step_idx.size * k, day, np.int32))
            imp["step"].append(np.repeat(step_idx.astype(np.int32), k))
            imp["position"].append(np.tile(np.arange(k, dtype=np.int32), step_idx.size))
            imp["doc_id"].append(rec["doc_id"][rows].reshape(-1))
            imp["propensity"].append(rec["propensity"][rows].reshape(-1))
            for signal, column in SIGNAL_COLUMNS.items():
                imp[column].append(rec[signal][rows].reshape(-1))
        # The day's last step holds the day's state and running totals.
        last = s_per_day - 1
        ud["user_id"].append(np.arange(users, dtype=np.int32))
        ud["day"].append(np.full(users, day, np.int32))
        ud["active"].append(rec["active"][last])
        ud["time_spent"].append(rec["day_watch_time"][last].astype(np.float64))
        ud["clicks"].append(rec["day_clicks"][last].astype(np.int32))
        ud["satisfaction"].append(rec["satisfaction"][last].astype(np.float64))
        if day == 0:
            after_first_day = time.perf_counter()
        if progress is not None:
            progress(day + 1, days)
    end_sim = time.perf_counter()
    # Steady state: the days after the first (which also builds and traces the world).
    if days > 1:
        steady_steps, steady_s = users * (days - 1) * s_per_day, end_sim - after_first_day
    else:
        steady_steps, steady_s = users * s_per_day, end_sim - start

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    survey = cat(imp["survey"], np.int8)
    impressions = pa.table(
        {
            "user_id": cat(imp["user_id"], np.int32),
            "day": cat(imp["day"], np.int32),
            "step": cat(imp["step"], np.int32),
            "position": cat(imp["position"], np.int32),
            "doc_id": cat(imp["doc_id"], np.int32),
            "propensity": cat(imp["propensity"], np.float64),
            "click": cat(imp["click"], np.bool_),
            "watch_time": cat(imp["watch_time"], np.float64),
            "completion": cat(imp["completion"], np.float64),
            "liked": cat(imp["liked"], np.bool_),
            "dismiss": cat(imp["dismiss"], np.bool_),
            "survey": pa.array(survey, mask=survey == 0, type=pa.int8()),
        }
    )
    user_days = pa.table({name: np.concatenate(parts) for name, parts in ud.items()})
    c = world.corpus
    documents = pa.table(
        {
            "doc_id": c.doc_id.astype(np.int32),
            "topic": c.topic.astype(np.int32),
            "length": c.length.astype(np.float64),
            "quality_score": c.quality_score.astype(np.float64),
            "features": _list_column(c.features),
            "views": c.views.astype(np.int64),
        }
    )
    users_t = pa.table(
        {
            "user_id": np.arange(users, dtype=np.int32),
            "features": _list_column(world.population.features),
        }
    )
    from evorec import __version__

    meta = {
        "surface": surf.name,
        "surface_params": json.dumps(surf.model_dump(mode="json"), sort_keys=True),
        "seed": str(int(seed)),
        "users": str(users),
        "days": str(days),
        "num_topics": str(surf.num_topics),
        "slate_size": str(k),
        "steps_per_day": str(s_per_day),
        "logging_policy": f"logging(epsilon={surf.logging_epsilon}, quality_weight=0.5)",
        "world_version": str(WORLD_VERSION),
        "evorec_version": __version__,
    }
    meta_t = pa.table({"key": list(meta), "value": list(meta.values())})

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(tmp))
        try:
            for name, table in (
                ("meta", meta_t),
                ("users", users_t),
                ("documents", documents),
                ("impressions", impressions),
                ("user_days", user_days),
            ):
                con.execute(create_table_sql(TABLES[name]))
                con.register("_arrow_in", table)
                cols = ", ".join(TABLES[name].column_names)
                con.execute(f"INSERT INTO {name} SELECT {cols} FROM _arrow_in")
                con.unregister("_arrow_in")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    n_imp = impressions.num_rows
    ud_active = user_days.column("active").to_numpy(zero_copy_only=False)
    return SimulationSummary(
        path=str(path),
        surface=surf.name,
        users=users,
        days=days,
        seed=int(seed),
        impressions=n_imp,
        clicks=int(impressions.column("click").to_numpy(zero_copy_only=False).sum()),
        active_rate=float(ud_active.mean()) if ud_active.size else 0.0,
        seconds=round(time.perf_counter() - start, 3),
        user_steps_per_s=round(steady_steps / max(steady_s, 1e-9), 1),
    )
