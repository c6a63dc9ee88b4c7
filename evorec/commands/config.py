"""``evorec config show|schema|fields``: the production baseline Φ and its schema."""

from __future__ import annotations

import click

from evorec.commands._io import echo_json


@click.group()
def config() -> None:
    """Φ, the ranker's meta-configuration."""


@config.command()
def show() -> None:
    """Print the shipped production baseline Φ (Adagrad, ReLU MLP, click label) as JSON."""
    from evorec.ranker.schema import baseline_phi

    echo_json(baseline_phi().to_json())


@config.command()
def schema() -> None:
    """Print Φ's JSON Schema (every field with its bounds and description)."""
    from evorec.ranker.schema import json_schema

    echo_json(json_schema())


@config.command()
def fields() -> None:
    """List every field of Φ as 'JSON pointer  type  description' (what prompts show)."""
    from evorec.ranker.schema import describe_fields

    for path, kind, desc in describe_fields():
        click.echo(f"{path:42s} {kind:40s} {desc}")
