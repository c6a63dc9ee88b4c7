"""AgenticRecTune's self-learning claim: lifts after a fixed number of A/B tests, with and
without the Skillhub carried over from a previous run of the same task.

    .venv/bin/python benchmarks/rectune.py [--stages ranking re-ranking] [--seeds 0 1 2]
        [--model builtin] [--rounds 3] [--proposals 3] [--users 3000] [--days 3]
        [--eval-users 8000] [--eval-days 4] [--surface home_feed]

For each stage and seed:

1. **previous run** — a run of the task (``rounds × proposals`` A/B arms, another seed) that
   writes its skill (learned rules, narrowed search space, elites) into a fresh store;
2. **cold** — a run with the same budget from a freshly seeded skill (no Skillhub);
3. **warm** — a run with the same budget that starts from the previous run's skill;
4. **held-out evaluation** — each run's best configuration (the top of its Pareto set by
   the objectives' score; the initial configuration when nothing beat it) is A/B-tested
   once more against the initial configuration, cold and warm as two arms of ONE fresh
   experiment (another seed and salt, ``eval-users`` users), so the lifts printed are not
   inflated by having been selected on their own read-outs (winner's curse).

Printed: per stage, the median over seeds of each metric's held-out relative lift over the
initial configuration and of the objectives' score, cold vs warm, and the A/B arms each run
spent. The budget of the warm run does not count the previous run's arms (that run is the
"history" the Skillhub carries over), but it does count the arm its first round spends
re-testing the carried best elite (printed with its stale and fresh scores).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def _run(args, stage, seed, *, store, use_skillhub, thread):
    from evorec.graphs.rectune import run_rectune
    from evorec.graphs.rectune_state import RecTuneContext

    with tempfile.TemporaryDirectory() as work:
        ctx = RecTuneContext(
            surface=args.surface,
            stage=stage,
            rounds=args.rounds,
            proposals=args.proposals,
            users=args.users,
            days=args.days,
            model=args.model,
            workdir=work,
            seed=seed,
            store=store,
            use_skillhub=use_skillhub,
            retest_elites=args.retest_elites,
        )
        out = run_rectune(ctx, thread_id=thread)
    best = out["summary"]["best"]
    point = next((p for p in out.get("pareto") or [] if best and p["arm"] == best["arm"]), None)
    return {
        "config": (point or {}).get("config") or out["skill"]["initial_config"],
        "arm": best["arm"] if best else "initial",
        "arms_used": out["summary"]["arms_used"],
        "objectives": out["skill"]["objectives"],
        "retests": [a for a in out.get("arms") or [] if a.get("retest_of")],
    }


def _evaluate(args, cold, warm, seed):
    from evorec.rectune.objectives import Objectives
    from evorec.simulator.multi_ab import run_multi_ab
    from evorec.simulator.pipeline import PipelinePolicy, baseline_fusion

    initial = baseline_fusion().to_json()
    treatments = {
        "cold": PipelinePolicy(cold["config"], name="cold"),
        "warm": PipelinePolicy(warm["config"], name="warm"),
    }
    result = run_multi_ab(
        PipelinePolicy(initial, name="initial"),
        treatments,
        args.surface,
        args.eval_users,
        args.eval_days,
        seed=50_000 + seed,
        salt=f"held-out-{seed}",
        pre_days=1,
    )
    obj = Objectives.coerce(cold["objectives"])
    out = {}
    for name in treatments:
        readouts = result.readouts.get(name) or {}
        lifts = {m: float(r.rel_lift) for m, r in readouts.items()}
        intervals = {m: (float(r.ci_low), float(r.ci_high)) for m, r in readouts.items()}
        score = obj.score(lifts, intervals) if lifts else float("-inf")
        out[name] = {"lifts": lifts, "score": score}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--surface", default="home_feed")
    parser.add_argument("--stages", nargs="+", default=["pre-ranking", "ranking", "re-ranking"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--proposals", type=int, default=3)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--eval-users", type=int, default=8000)
    parser.add_argument("--eval-days", type=int, default=4)
    parser.add_argument(
        "--retest-elites",
        type=int,
        default=1,
        help="Carried elites a warm run re-tests in round 1 (0: none; an ablation).",
    )
    args = parser.parse_args()

    from langgraph.store.memory import InMemoryStore

    metrics = ["active_days", "time_spent", "satisfaction", "clicks"]
    started = time.perf_counter()
    print(
        f"AgenticRecTune benchmark: {args.surface}, model {args.model}, {args.rounds} rounds x "
        f"{args.proposals} proposals per run ({args.users} users x {args.days} days per "
        f"experiment); held-out A/B {args.eval_users} users x {args.eval_days} days; "
        f"seeds {args.seeds}"
    )
    for stage in args.stages:
        rows: dict[str, list[dict]] = {"cold": [], "warm": []}
        arms: dict[str, list[int]] = {"cold": [], "warm": []}
        for seed in args.seeds:
            store = InMemoryStore()
            _run(args, stage, 100 + seed, store=store, use_skillhub=True, thread=f"prev-{seed}")
            cold = _run(
                args, stage, seed, store=InMemoryStore(), use_skillhub=False, thread=f"cold-{seed}"
            )
            warm = _run(args, stage, seed, store=store, use_skillhub=True, thread=f"warm-{seed}")
            held = _evaluate(args, cold, warm, seed)
            for r in warm["retests"]:
                fresh = "breached a floor" if r.get("score") is None else f"{r['score']:+.4f}"
                print(
                    f"  {stage:<11} seed {seed} warm: re-test of carried elite {r['retest_of']}: "
                    f"score {fresh} now (stale score {r.get('stale_score') or 0.0:+.4f})"
                )
            for name, run in (("cold", cold), ("warm", warm)):
                rows[name].append(held[name])
                arms[name].append(run["arms_used"])
                lifts = held[name]["lifts"]
                print(
                    f"  {stage:<11} seed {seed} {name}: best {run['arm']:<16} "
                    + " ".join(f"{m} {lifts.get(m, float('nan')):+.2%}" for m in metrics)
                    + f"  score {held[name]['score']:+.4f}"
                )
        print(
            f"{stage}: median over {len(args.seeds)} seed(s), held-out lift vs the initial configuration"
        )
        for name in ("cold", "warm"):
            med = {
                m: statistics.median(r["lifts"].get(m, float("nan")) for r in rows[name])
                for m in metrics
            }
            score = statistics.median(r["score"] for r in rows[name])
            label = "without Skillhub" if name == "cold" else "with Skillhub   "
            print(
                f"  {label} ({statistics.median(arms[name]):.0f} A/B arms): "
                + "  ".join(f"{m} {med[m]:+.2%}" for m in metrics)
                + f"  score {score:+.4f}"
            )
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
