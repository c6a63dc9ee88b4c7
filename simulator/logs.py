"""Logged interaction data: run the logging policy in the world and write it to DuckDB.

``simulate(surface, users, days, seed, out)`` serves every user with the documented
logging policy (:class:`~evorec.simulator.policies.LoggingPolicy`: ε-greedy over relevance
plus the observable quality score, ε from the surface) for ``days`` simulated days, and
writes the tables of :mod:`evorec.simulator.schema` — ``meta``, ``users``, ``documents``,
``impressions`` (one row per shown item) and ``user_days`` (one row per user and day).

The world is stepped one slate at a time so each step's slates and responses can be
recorded; the arrays of a whole run are collected in NumPy and inserted through Arrow in
one statement per table. The database is written to a temporary file beside ``out`` and
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
    user_steps_per_s: float

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
    positions = np.broadcast_to(np.arange(k, dtype=np.int32), (users, k))
    user_ids = np.broadcast_to(np.arange(users, dtype=np.int32)[:, None], (users, k))
    for day in range(days):
        for step in range(s_per_day):
            value = world.step(1)
            state, slate, resp = value["user state"], value["slate docs"], value["user response"]
            rows = state["in_session"].numpy()
            if rows.any():
                n = int(rows.sum()) * k
                imp["user_id"].append(user_ids[rows].reshape(-1))
                imp["day"].append(np.full(n, day, np.int32))
                imp["step"].append(np.full(n, step, np.int32))
                imp["position"].append(positions[rows].reshape(-1))
                imp["doc_id"].append(slate["doc_id"].numpy()[rows].reshape(-1))
                imp["propensity"].append(slate["propensity"].numpy()[rows].reshape(-1))
                for signal, column in SIGNAL_COLUMNS.items():
                    imp[column].append(resp[signal].numpy()[rows].reshape(-1))
        # The day's last step holds the day's state and running totals.
        ud["user_id"].append(np.arange(users, dtype=np.int32))
        ud["day"].append(np.full(users, day, np.int32))
        ud["active"].append(state["active"].numpy())
        ud["time_spent"].append(resp["day_watch_time"].numpy().astype(np.float64))
        ud["clicks"].append(resp["day_clicks"].numpy().astype(np.int32))
        ud["satisfaction"].append(resp["satisfaction"].numpy().astype(np.float64))
        if progress is not None:
            progress(day + 1, days)
    sim_seconds = time.perf_counter() - start

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
        user_steps_per_s=round(users * days * s_per_day / max(sim_seconds, 1e-9), 1),
    )
