"""Small helpers shared by the CLI commands: reading JSON files, printing results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from evorec.errors import ConfigError

__all__ = ["echo_json", "read_json_file"]


def read_json_file(path: str | Path, what: str) -> Any:
    """Parse a JSON file, turning a missing file or bad JSON into a ``ConfigError``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {p}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} file {p} is not valid JSON: {exc}") from None


def echo_json(data: Any) -> None:
    """Print JSON for programs (2-space indent, UTF-8 kept)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=str))
