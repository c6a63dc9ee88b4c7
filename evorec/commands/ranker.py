"""``evorec train`` and ``evorec compute-loss``: the ranker's training and offline proxy.

Torch and DuckDB are imported inside the command bodies, so listing commands stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from evorec.commands._io import echo_json, read_json_file

__all__ = ["compute_loss", "train"]


def _load_config(value: str) -> Any:
    """Φ from a JSON file, or the shipped production baseline for ``baseline``."""
    from evorec.ranker.schema import baseline_phi, load_phi

    if value == "baseline":
        return baseline_phi()
    return load_phi(read_json_file(value, "Φ config"))


def _fmt(x: Any) -> str:
    return f"{x:.5g}" if isinstance(x, float) else str(x)


@click.command()
@click.option("--config", "config", required=True, help="Φ JSON file, or 'baseline'.")
@click.option("--data", "data", required=True, help="Logged-data DuckDB (`evorec simulate`).")
@click.option("--out", "out", required=True, help="Directory the artifact is written under.")
@click.option("--version", "version", default=None, help="Artifact name (default: content-based).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Cap training steps.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Override Φ.training.seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train(
    config: str,
    data: str,
    out: str,
    version: str | None,
    max_steps: int | None,
    seed: int | None,
    as_json: bool,
) -> None:
    """Train the ranker for Φ on logged data and write a versioned, hashed artifact."""
    from evorec.ranker.artifact import export_artifact
    from evorec.ranker.data import load_logged_data
    from evorec.ranker.training import train as train_model

    phi = _load_config(config)
    logged = load_logged_data(data)
    result = train_model(phi, logged, seed=seed, max_steps=max_steps)
    path = export_artifact(result, phi, out, version=version)
    if as_json:
        echo_json({"artifact": str(path), "metrics": result.metrics})
        return
    m = result.metrics
    click.echo(f"artifact: {path}")
    for key in (
        "steps",
        "samples_per_s",
        "train_loss",
        "heldout_loss",
        "click_logloss",
        "click_auc",
        "params",
        "device",
    ):
        click.echo(f"  {key:16s} {_fmt(m[key])}")


@click.command("compute-loss")
@click.option("--config", "config", required=True, help="Φ JSON file, or 'baseline'.")
@click.option("--data", "data", required=True, help="Logged-data DuckDB (`evorec simulate`).")
@click.option(
    "--seeds",
    type=click.IntRange(min=1, max=20),
    default=3,
    show_default=True,
    help="Number of seeds (0..n-1).",
)
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=None,
    help="Max training steps per seed (default: a ~1-2 s budget).",
)
@click.option(
    "--baseline",
    "baseline",
    default=None,
    help="Also evaluate this Φ (file or 'baseline') and compare against it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compute_loss(
    config: str, data: str, seeds: int, budget: int | None, baseline: str | None, as_json: bool
) -> None:
    """Proxy-evaluate Φ: held-out click loss and AUC over seeds (optionally vs a baseline)."""
    from evorec.ranker.data import load_logged_data
    from evorec.ranker.proxy import compute_loss as run

    phi = _load_config(config)
    base_phi = _load_config(baseline) if baseline is not None else None
    logged = load_logged_data(data)
    seed_list = tuple(range(seeds))
    base = run(base_phi, logged, budget=budget, seeds=seed_list) if base_phi else None
    result = run(phi, logged, budget=budget, seeds=seed_list, baseline=base)
    d = result.to_dict()
    if as_json:
        echo_json(d)
        return
    loss, auc = d["loss"], d["auc"]
    click.echo(
        f"loss (held-out click log-loss) {loss['mean']} ± {loss['std']}  over seeds {d['seeds']}"
    )
    click.echo(f"click AUC                      {auc['mean']} ± {auc['std']}")
    click.echo(
        f"params {d['params']}  latency {d['latency_ms_per_1k']} ms/1k  "
        f"steps {d['budget_steps']}  train {d['train_seconds']} s"
    )
    for note in d.get("notes", []):
        click.echo(f"note: {note}")
    comp = d.get("comparison")
    if comp:
        verdict = (
            "BETTER"
            if comp["better"]
            else ("worse" if comp["significant"] else "no significant difference")
        )
        click.echo(
            f"vs baseline: Δloss {comp['loss_delta']} ({comp['test']}, p={comp['p_value']}) -> {verdict}"
        )
        if not comp["comparable"]:
            click.echo(f"NOT COMPARABLE: {comp['reason']}")
