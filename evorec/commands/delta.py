"""``evorec delta apply|diff``: RFC 6902 deltas against Φ."""

from __future__ import annotations

import click

from evorec.commands._io import echo_json, read_json_file


@click.group()
def delta() -> None:
    """Apply or compute RFC 6902 JSON Patch deltas on Φ."""


@delta.command()
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("patch", type=click.Path(dir_okay=False))
def apply(base: str, patch: str) -> None:
    """Apply PATCH to the Φ in BASE and print the new, validated Φ (exit 2 on any error)."""
    from evorec.delta import apply_delta

    result = apply_delta(read_json_file(base, "base Φ"), read_json_file(patch, "patch"))
    echo_json(result.to_json())


@delta.command()
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@click.option("--render", is_flag=True, help="Print the compact one-line-per-op form instead.")
def diff(a: str, b: str, render: bool) -> None:
    """Print the patch that turns A into B (both validated as Φ first)."""
    from evorec.delta import diff as compute_diff
    from evorec.delta import render_delta
    from evorec.ranker.schema import load_phi

    phi_a = load_phi(read_json_file(a, "first Φ")).to_json()
    phi_b = load_phi(read_json_file(b, "second Φ")).to_json()
    patch = compute_diff(phi_a, phi_b)
    click.echo(render_delta(patch, phi_a)) if render else echo_json(patch)
