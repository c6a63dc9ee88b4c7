"""Ranker speed: training samples/s of the baseline Φ and the wall time of one compute_loss.

    .venv/bin/python benchmarks/ranker.py                      # synthetic 250k impressions
    .venv/bin/python benchmarks/ranker.py --data logs.duckdb   # real `evorec simulate` logs

Targets on a 2-core CPU: ≥ 200k samples/s for the baseline and one proxy evaluation
(3 seeds, default budget) in ≤ 10 s. Runs on the CPU and, when present, on CUDA too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from evorec.ranker.data import load_logged_data, write_synthetic_logs
from evorec.ranker.proxy import compute_loss
from evorec.ranker.schema import baseline_phi
from evorec.ranker.training import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="logged-data DuckDB (default: synthetic)")
    parser.add_argument("--impressions", type=int, default=250_000)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads in training")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = (
            Path(args.data)
            if args.data
            else write_synthetic_logs(
                Path(tmp) / "bench.duckdb",
                users=5_000,
                docs=1_000,
                impressions=args.impressions,
                topics=10,
            )
        )
        start = time.perf_counter()
        data = load_logged_data(path)
        load_s = time.perf_counter() - start
    phi = baseline_phi()
    report: dict[str, object] = {
        "impressions": data.num_impressions,
        "train_rows": int((~data.heldout).sum()),
        "load_seconds": round(load_s, 3),
        "cpu_threads_available": torch.get_num_threads(),
    }
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        train(phi, data, device=dev, max_steps=20, threads=args.threads)  # warm-up, tensor cache
        runs = [train(phi, data, device=dev, threads=args.threads) for _ in range(3)]
        best = max(runs, key=lambda r: r.samples_per_s)
        start = time.perf_counter()
        proxy = compute_loss(phi, data, device=dev)
        report[dev] = {
            "train_samples_per_s": round(best.samples_per_s),
            "train_samples_per_s_all": [round(r.samples_per_s) for r in runs],
            "train_steps": best.steps,
            "train_seconds": round(best.seconds, 3),
            "compute_loss_wall_seconds": round(time.perf_counter() - start, 3),
            "compute_loss_train_seconds": round(proxy.train_seconds, 3),
            "compute_loss_budget_steps": proxy.budget_steps,
            "click_logloss": round(proxy.loss_mean, 5),
            "click_auc": round(proxy.auc_mean, 5),
            "latency_ms_per_1k": proxy.latency_ms_per_1k,
        }
        if dev == "cuda":
            report[dev]["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
