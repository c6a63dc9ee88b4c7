"""The ``evorec`` command line: a thin layer over the library.

Commands live in ``evorec.commands.*`` and are imported only when invoked (or when help
lists them), and those modules import TensorFlow, torch and LangChain only inside the
command bodies — so ``evorec --help`` answers in a fraction of a second.

Every :class:`~evorec.errors.EvorecError` becomes ``error: <message>`` on stderr and exit
code 2; with ``--json`` it is printed as a JSON object on stdout as well.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import click

from evorec.errors import EvorecError

__all__ = ["main"]

#: command name -> "module:attribute". Each module must stay cheap to import.
_COMMANDS: dict[str, str] = {
    "campaign": "evorec.commands.campaign:campaign",
    "config": "evorec.commands.config:config",
    "delta": "evorec.commands.delta:delta",
    "surfaces": "evorec.commands.sim:surfaces",
    "simulate": "evorec.commands.sim:simulate",
    "ab": "evorec.commands.sim:ab",
    "online": "evorec.commands.online:online",
    "offline": "evorec.commands.offline:offline",
    "propose": "evorec.commands.online:propose",
    "approve": "evorec.commands.online:approve",
    "status": "evorec.commands.online:status",
    "sql": "evorec.commands.sql:sql",
    "journal": "evorec.commands.journal:journal",
    "train": "evorec.commands.ranker:train",
    "compute-loss": "evorec.commands.ranker:compute_loss",
    "report": "evorec.commands.report:report",
    "rectune": "evorec.commands.rectune:rectune",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EvorecError as exc:
            if "--json" in sys.argv:
                click.echo(json.dumps(exc.to_dict(), default=str))
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evorec")
def main() -> None:
    """evorec — a self-evolving recommendation system.

    LLM agents (or the built-in offline proposer, a search heuristic) act as ML engineers:
    they propose deltas to the ranker's meta-configuration Φ, check them on cheap proxies,
    and launch the promising ones through simulated A/B tests judged on delayed
    north-star metrics.
    """


if __name__ == "__main__":  # pragma: no cover
    main()
