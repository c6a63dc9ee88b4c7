"""Campaign velocity and outcome: proxy evaluations/hour, A/B tests/hour, north-star lift.

    .venv/bin/python benchmarks/campaign.py [--seeds 0 1 2] [--models builtin random]
                                             [--budget-proxy 27] [--budget-ab 6]

For each proposer and seed, a campaign runs at the README's default scale (home_feed, 3,000
logged users x 4 days, A/B tests of 3,000 users x 4 days) with a fixed budget of proxy
evaluations and A/B tests. Then the final production model is A/B-tested once more against
the starting baseline's model on a *fresh* simulated population (another seed), so the lift
reported is not inflated by selecting the launches on their own read-outs (winner's curse);
with no launch the lift is 0 by definition. Printed: per run and as medians over seeds,
proxy evaluations per hour (of offline time), A/B tests per hour (of online time), and
that held-out north-star lift with its 95% CI.

Targets (2-core CPU): >= 600 proxy evaluations/hour, >= 60 A/B tests/hour.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def _held_out_lift(workdir: Path, surface: str, seed: int, users: int, days: int) -> dict:
    from evorec.production import ProductionRegistry
    from evorec.ranker import RankerPolicy, load_artifact
    from evorec.simulator import NORTH_STAR, run_ab

    history = ProductionRegistry(workdir / "production.json").history()
    start, final = history[0], history[-1]
    if final.version == start.version:
        return {"launches": 0, "lift": 0.0, "ci": (0.0, 0.0), "p": 1.0}
    control = RankerPolicy(load_artifact(start.artifact), name="baseline")
    treatment = RankerPolicy(load_artifact(final.artifact), name="final")
    r = run_ab(control, treatment, surface, users, days, 0.5, seed, salt="held-out")
    m = r.metrics[NORTH_STAR]
    return {
        "launches": final.version,
        "lift": m.rel_lift,
        "ci": (m.ci_low, m.ci_high),
        "p": m.p_value,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=["builtin", "random"])
    ap.add_argument("--surface", default="home_feed")
    ap.add_argument("--budget-proxy", type=int, default=27)
    ap.add_argument("--budget-ab", type=int, default=6)
    ap.add_argument("--proposals-per-round", type=int, default=9)
    ap.add_argument("--log-users", type=int, default=3000)
    ap.add_argument("--log-days", type=int, default=4)
    ap.add_argument("--ab-users", type=int, default=3000)
    ap.add_argument("--ab-days", type=int, default=4)
    args = ap.parse_args()

    from evorec.graphs.campaign import CampaignContext, run_campaign
    from evorec.simulator import simulate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in args.seeds:
            logs = root / f"logs-{seed}.duckdb"
            simulate(args.surface, args.log_users, args.log_days, seed, logs)
            for model in args.models:
                workdir = root / f"{model}-{seed}"
                workdir.mkdir()
                shutil.copy(logs, workdir / "logs.duckdb")  # the same world for both models
                ctx = CampaignContext(
                    workdir=str(workdir),
                    surface=args.surface,
                    model=model,
                    seed=seed,
                    log_users=args.log_users,
                    log_days=args.log_days,
                    ab_users=args.ab_users,
                    ab_days=args.ab_days,
                    proposals_per_round=args.proposals_per_round,
                    max_proxy_evals=args.budget_proxy,
                    max_ab_tests=args.budget_ab,
                    max_seconds=None,
                )
                t0 = time.perf_counter()
                state = run_campaign(ctx)
                wall = time.perf_counter() - t0
                held = _held_out_lift(workdir, args.surface, 10_000 + seed, 4000, args.ab_days)
                row = {
                    "model": model,
                    "seed": seed,
                    "wall_s": wall,
                    "proxy_per_h": 3600 * state["proxy_evals"] / max(state["offline_s"], 1e-9),
                    "ab_per_h": 3600 * state["ab_tests"] / max(state["online_s"], 1e-9)
                    if state["ab_tests"]
                    else float("nan"),
                    "proxy_evals": state["proxy_evals"],
                    "ab_tests": state["ab_tests"],
                    **held,
                }
                rows.append(row)
                print(
                    f"{model:8s} seed {seed}: {wall:6.0f} s, {row['proxy_evals']} proxy evals "
                    f"({row['proxy_per_h']:.0f}/h), {row['ab_tests']} A/B tests "
                    f"({row['ab_per_h']:.0f}/h), {row['launches']} launches, held-out "
                    f"north-star lift {row['lift']:+.2%} [{row['ci'][0]:+.2%}, "
                    f"{row['ci'][1]:+.2%}]",
                    flush=True,
                )
    print(
        f"\nmedians over seeds {args.seeds} (budget: {args.budget_proxy} proxy evaluations, "
        f"{args.budget_ab} A/B tests):"
    )
    for model in args.models:
        mine = [r for r in rows if r["model"] == model]
        ab = [r["ab_per_h"] for r in mine if r["ab_per_h"] == r["ab_per_h"]]
        print(
            f"  {model:8s} proxy evaluations/h {statistics.median(r['proxy_per_h'] for r in mine):7.0f}"
            f"  A/B tests/h {statistics.median(ab) if ab else float('nan'):6.0f}"
            f"  north-star lift {statistics.median(r['lift'] for r in mine):+.2%}"
            f"  campaign wall {statistics.median(r['wall_s'] for r in mine):5.0f} s"
        )
    print("targets: >= 600 proxy evaluations/h, >= 60 A/B tests/h")


if __name__ == "__main__":
    main()
