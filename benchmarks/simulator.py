"""Simulator speed: user-steps per second for logging and for an A/B with a Python scorer.

    .venv/bin/python benchmarks/simulator.py [--users 20000] [--days 3]

Prints, after a warm-up (TensorFlow import and graph tracing are reported separately):
* logging: ``simulate`` recording every slate and response (stepped slate by slate);
* A/B: two arms, the control a batched NumPy scorer (the logging policy), the treatment
  an external Python scorer (a small PyTorch MLP over user and document features, one
  batched forward per step), stepped a day at a time inside RecSim NG's compiled runtime.
Targets (2-core CPU): logging >= 375k user-steps/s (50% of RecSim NG's ~750k alone),
A/B with an external scorer >= 100k user-steps/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


class TorchScorer:
    """An external scorer: a 2-layer PyTorch MLP over [user features, doc features]."""

    name = "torch-mlp"

    def __init__(self, topics: int) -> None:
        import torch

        torch.manual_seed(0)
        self.torch = torch
        self.user = torch.nn.Linear(topics, 32)
        self.doc = torch.nn.Linear(topics, 32)

    def score(self, batch):
        torch = self.torch
        with torch.no_grad():
            u = torch.relu(self.user(torch.from_numpy(batch.user_features)))
            d = torch.relu(self.doc(torch.from_numpy(batch.doc_features)))
            return (u @ d.T).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--surface", default="home_feed")
    args = ap.parse_args()

    t0 = time.perf_counter()
    from evorec.simulator._tf import import_recsim

    import_recsim()
    import torch

    torch.set_num_threads(1)
    print(f"import TensorFlow + RecSim NG: {time.perf_counter() - t0:.1f} s")

    from evorec.simulator import ABExperiment, get_surface, simulate

    surface = get_surface(args.surface)
    steps = args.users * args.days * surface.steps_per_day
    with tempfile.TemporaryDirectory() as tmp:
        simulate(surface, 200, 1, 0, Path(tmp) / "warm.duckdb")  # trace once
        t0 = time.perf_counter()
        summary = simulate(surface, args.users, args.days, 0, Path(tmp) / "logs.duckdb")
        wall = time.perf_counter() - t0
    print(
        f"logging: {args.users} users x {args.days} days on {surface.name}: "
        f"{summary.user_steps_per_s:,.0f} user-steps/s simulating+recording after the first day "
        f"({steps / wall:,.0f} over the whole call, world build, tracing and DuckDB write "
        "included; "
        f"{summary.impressions:,} impressions in {wall:.1f} s)"
    )

    exp = ABExperiment(
        "logging",
        TorchScorer(surface.num_topics),
        surface,
        args.users,
        args.days,
        0.5,
        0,
        pre_days=0,
    )
    t0 = time.perf_counter()
    exp.run_day()  # includes tracing
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    while not exp.done:
        exp.run_day()
    wall = time.perf_counter() - t0
    rest = args.users * (args.days - 1) * surface.steps_per_day
    print(
        f"A/B with an external PyTorch scorer: {rest / wall:,.0f} user-steps/s "
        f"(first day incl. tracing {first:.1f} s)"
    )
    print("targets: logging >= 375,000 user-steps/s; A/B >= 100,000 user-steps/s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
