"""Guardrail calibration: how often an A/A experiment is aborted by a guardrail by chance.

    .venv/bin/python benchmarks/guardrails.py [--surface home_feed] [--users 2000] [--days 10]
                                              [--splits 1000] [--seed 0]

A guardrail is checked every day and breaches when the treatment is worse than its
``max_drop`` and significantly so (one-sided p < 0.01), so over a horizon of many days and
several guardrails the chance of a false abort adds up. This measures it: one simulated
world with both arms on the same policy (so the users' outcomes do not depend on the split),
re-split with ``--splits`` different salts, each split checked day by day with
``ABExperiment.run_day``'s own rule. Printed per guardrail set: the share of splits aborted,
and on which day the first breach came.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

#: The online agent's default guardrails, then every daily metric at a 10 % tolerance.
GUARDRAIL_SETS = {
    "online default (active 10%, satisfaction 15%)": {
        "daily_active_rate": 0.10,
        "daily_satisfaction": 0.15,
    },
    "all four daily metrics at 10%": {
        "daily_active_rate": 0.10,
        "daily_satisfaction": 0.10,
        "daily_time_spent": 0.10,
        "daily_clicks_per_user": 0.10,
    },
}


def false_abort_rate(daily, guardrails, splits, traffic_fraction=0.5):
    """Share of ``splits`` salts whose split breaches a guardrail on some day, and the
    histogram of first-breach days (the breach rule is ``ABExperiment.run_day``'s own)."""
    from evorec.simulator.ab import Guardrail, assign, guardrail_breaches

    checks = [Guardrail(metric, drop) for metric, drop in guardrails.items()]
    ids = np.arange(daily[0]["active"].shape[0])
    first_days = np.zeros(len(daily), dtype=np.int64)
    for i in range(splits):
        treat = assign(ids, f"aa-{i}", traffic_fraction)
        for day, values in enumerate(daily):
            if guardrail_breaches(checks, values, ~treat, treat):
                first_days[day] += 1
                break
    return first_days.sum() / splits, first_days


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surface", default="home_feed")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--splits", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from evorec.simulator import ABExperiment, get_surface

    start = time.perf_counter()
    surface = get_surface(args.surface)
    experiment = ABExperiment(
        "logging", "logging", surface, args.users, args.days, 0.5, args.seed, [], salt="aa"
    )
    daily = []
    for _ in range(args.days):
        experiment.run_day()
        daily.append(experiment._read_day())
    print(
        f"A/A world: {args.surface}, {args.users} users x {args.days} days, seed {args.seed} "
        f"({time.perf_counter() - start:.1f} s); {args.splits} splits"
    )
    for name, guardrails in GUARDRAIL_SETS.items():
        rate, first = false_abort_rate(daily, guardrails, args.splits)
        print(f"  {name}: false-abort rate {rate:.1%}; first breach by day {first.tolist()}")


if __name__ == "__main__":
    main()
