"""``evorec surfaces``, ``evorec simulate`` and ``evorec ab``: the simulated platform."""

from __future__ import annotations

import sys

import click

from evorec.commands._io import echo_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--name", default=None, help="Show every parameter of one surface (or file).")
def surfaces(as_json: bool, name: str | None) -> None:
    """List the built-in surfaces (world configurations) and their parameters."""
    from evorec.simulator.surfaces import SURFACES, Surface, get_surface

    chosen = [get_surface(name)] if name else list(SURFACES.values())
    if as_json:
        echo_json([s.model_dump(mode="json") for s in chosen])
        return
    if name:
        s = chosen[0]
        click.echo(f"{s.name}: {s.description}")
        for field_name, info in Surface.model_fields.items():
            if field_name in ("name", "description"):
                continue
            click.echo(f"  {field_name:24s} {getattr(s, field_name)!s:>10}  {info.description}")
        return
    keys = (
        "num_topics",
        "num_docs",
        "num_candidates",
        "slate_size",
        "steps_per_day",
        "mean_length",
        "clickbait_appeal",
        "logging_epsilon",
    )
    click.echo(f"{'surface':12s} " + " ".join(f"{k:>16s}" for k in keys))
    for s in chosen:
        click.echo(f"{s.name:12s} " + " ".join(f"{getattr(s, k)!s:>16s}" for k in keys))
    for s in chosen:
        click.echo(f"\n{s.name}: {s.description}")
    click.echo(
        "\nevorec surfaces --name NAME shows every parameter; a JSON/YAML file of the "
        "same fields works wherever a surface name does."
    )


def _progress(label: str, total: int):
    """A progress callback writing to stderr when it is a terminal (quiet in pipes/CI)."""
    if not sys.stderr.isatty():
        return None
    bar = click.progressbar(length=total, label=label, file=sys.stderr)
    bar.__enter__()

    def update(done: int, _total: int) -> None:
        bar.update(done - bar.pos)
        if done >= _total:
            bar.__exit__(None, None, None)

    return update


@click.command()
@click.option("--surface", required=True, help="Surface name (evorec surfaces) or JSON/YAML file.")
@click.option("--users", type=int, required=True, help="Simulated users.")
@click.option("--days", type=int, required=True, help="Simulated days.")
@click.option("--seed", type=int, default=0, show_default=True, help="World seed.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="DuckDB file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def simulate(
    surface: str, users: int, days: int, seed: int, out: str, overwrite: bool, as_json: bool
) -> None:
    """Run the logging policy and write logged interactions to a DuckDB file.

    The logging policy is ε-greedy: relevance (profile · topic embedding) plus 0.5 ×
    the observable quality score, with a uniformly random slate for a share ε of users
    and steps (the surface's logging_epsilon); each impression records its propensity.
    """
    from evorec.simulator.logs import simulate as run

    summary = run(
        surface,
        users,
        days,
        seed,
        out,
        overwrite=overwrite,
        progress=_progress("simulating days", days),
    )
    if as_json:
        echo_json(summary.to_dict())
        return
    click.echo(
        f"wrote {summary.path}: {summary.impressions:,} impressions, {summary.clicks:,} clicks, "
        f"{summary.users:,} users x {summary.days} days on {summary.surface} "
        f"(active rate {summary.active_rate:.1%}, {summary.seconds:.1f} s)"
    )


@click.command()
@click.option("--surface", required=True, help="Surface name or JSON/YAML file.")
@click.option(
    "--control",
    required=True,
    help="Control policy: random, popularity, logging, clickbait, or a ranker artifact directory.",
)
@click.option("--treatment", required=True, help="Treatment policy (same choices).")
@click.option("--users", type=int, default=4000, show_default=True)
@click.option("--days", type=int, default=7, show_default=True)
@click.option(
    "--traffic-fraction",
    type=float,
    default=0.5,
    show_default=True,
    help="Share of users in the treatment arm, in (0, 1).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--salt", default="ab", show_default=True, help="Assignment salt.")
@click.option(
    "--guardrail",
    "guardrails",
    multiple=True,
    metavar="METRIC=MAX_DROP",
    help="Abort when a daily metric drops by more than MAX_DROP (e.g. "
    "daily_active_rate=0.1). Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the read-out as JSON.")
def ab(
    surface: str,
    control: str,
    treatment: str,
    users: int,
    days: int,
    traffic_fraction: float,
    seed: int,
    salt: str,
    guardrails: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run one simulated A/B test between two policies and print the read-out."""
    from evorec.errors import ConfigError
    from evorec.simulator.ab import Guardrail, run_ab
    from evorec.simulator.policies import POLICY_NAMES

    parsed = []
    for g in guardrails:
        metric, sep, drop = g.partition("=")
        try:
            max_drop = float(drop)
        except ValueError:
            raise ConfigError(f"guardrail {g!r} must look like METRIC=MAX_DROP") from None
        if not sep:
            raise ConfigError(f"guardrail {g!r} must look like METRIC=MAX_DROP")
        parsed.append(Guardrail(metric.strip(), max_drop))  # names the known metrics

    def policy(name: str):
        if name in POLICY_NAMES:
            return name
        from pathlib import Path

        if Path(name).is_dir():
            from evorec.ranker import RankerPolicy, load_artifact

            return RankerPolicy(load_artifact(name), name=f"ranker:{Path(name).name}")
        raise ConfigError(
            f"unknown policy {name!r}: use one of {', '.join(POLICY_NAMES)} or a ranker "
            "artifact directory (evorec train --out DIR)"
        )

    result = run_ab(
        policy(control),
        policy(treatment),
        surface,
        users,
        days,
        traffic_fraction,
        seed,
        parsed,
        salt=salt,
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.format_text())
