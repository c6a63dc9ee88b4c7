"""``evorec campaign``: the self-evolving loop end to end (the main job)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from evorec.commands._io import echo_json


class _Progress:
    """One line per finished proposal and experiment, and a budget line per round."""

    def __init__(self, ctx: Any, quiet: bool) -> None:
        self.ctx = ctx
        self.quiet = quiet
        self.t0 = time.perf_counter()
        self.round = 0
        self.proposals = 0
        self.ab = 0
        self.launches = 0

    def echo(self, text: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.perf_counter() - self.t0:6.0f}s] {text}", err=True)

    def budget(self) -> str:
        c = self.ctx
        parts = [
            f"proxy {self.proposals}/{c.max_proxy_evals if c.max_proxy_evals else '∞'}",
            f"A/B {self.ab}/{c.max_ab_tests if c.max_ab_tests else '∞'}",
        ]
        if c.max_seconds:
            parts.append(f"time {time.perf_counter() - self.t0:.0f}/{c.max_seconds:.0f} s")
        return ", ".join(parts) + f"; launches {self.launches}"

    def __call__(self, ns: tuple[str, ...], node: str, update: dict[str, Any]) -> None:
        where = ns[0].split(":")[0] if ns else "campaign"
        if where == "campaign":
            self._campaign(node, update)
        elif where == "offline" and node == "journal" and update.get("last"):
            last = update["last"]
            self.proposals += 1
            imp = last.get("improvement")
            imp_text = "" if imp is None else f" {imp:+.4g}"
            self.echo(
                f"round {self.round + 1} offline {last.get('persona', '?'):<12} "
                f"{last.get('status', '?'):<12}{imp_text}  {(last.get('hypothesis') or '')[:90]}"
            )
        elif where == "offline" and node == "promote" and update.get("promoted"):
            for exp_id in update["promoted"]:
                self.echo(f"round {self.round + 1} offline promoted {exp_id} to the online queue")
        elif where == "online":
            if node == "validate" and update.get("phase"):
                self.echo(f"round {self.round + 1} online  VALIDATED → training")
            elif node == "live_day" and update.get("day"):
                self.echo(
                    f"round {self.round + 1} online  LIVE day {update['day']}/{self.ctx.ab_days}"
                    + (" — aborted" if update.get("live") == "aborted" else "")
                )
            elif node in ("complete", "abort", "validate", "train") and update.get("outcome"):
                out = update["outcome"]
                self.ab += 1
                self.launches += out.get("status") == "LAUNCHED"
                summary = (out.get("decision") or {}).get("summary") or out.get("error") or ""
                self.echo(
                    f"round {self.round + 1} online  {out['experiment_id']} → "
                    f"{out['status']}: {summary[:140]}"
                )

    def _campaign(self, node: str, update: dict[str, Any]) -> None:
        if node == "setup":
            self.echo(f"logged data and production model ready in {self.ctx.workdir}")
        elif node == "online":
            self.round = update.get("round", self.round)
            self.echo(f"round {self.round} done — {self.budget()}")
        elif node == "check" and update.get("stop_reason"):
            self.echo(f"stopping: {update['stop_reason']}")
        elif node == "finish" and update.get("report"):
            self.echo(f"report: {update['report']['html']}")


@click.command()
@click.option(
    "--surface",
    default="home_feed",
    show_default=True,
    help="Surface name (evorec surfaces) or a JSON/YAML file.",
)
@click.option(
    "--workdir",
    default="runs/campaign",
    show_default=True,
    help="Logged data, journal, production, artifacts, checkpoints and the report.",
)
@click.option(
    "--model",
    default="builtin",
    show_default=True,
    help="Proposer: builtin (a search heuristic, no network), random, optuna, "
    "gemini[:model] (needs GOOGLE_API_KEY) or provider:model.",
)
@click.option(
    "--budget-proxy",
    type=click.IntRange(min=1),
    default=45,
    show_default=True,
    help="Stop after this many offline proposals (proxy evaluations).",
)
@click.option(
    "--budget-ab",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Stop after this many A/B tests.",
)
@click.option(
    "--budget-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Stop starting new rounds after this much wall time.",
)
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="Stop after N rounds.")
@click.option(
    "--persona",
    default="all",
    show_default=True,
    type=click.Choice(["optimizer", "architecture", "reward", "all"]),
)
@click.option("--proposals-per-round", type=click.IntRange(min=1), default=9, show_default=True)
@click.option("--log-users", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--log-days", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--ab-users", type=click.IntRange(min=2), default=3000, show_default=True)
@click.option("--ab-days", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue the interrupted campaign in --workdir.")
@click.option("--quiet", is_flag=True, help="No progress lines (the summary still prints).")
@click.option("--json", "as_json", is_flag=True, help="Print the final state as JSON.")
def campaign(
    surface: str,
    workdir: str,
    model: str,
    budget_proxy: int,
    budget_ab: int,
    budget_minutes: float,
    rounds: int | None,
    persona: str,
    proposals_per_round: int,
    log_users: int,
    log_days: int,
    ab_users: int,
    ab_days: int,
    seed: int,
    resume: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run the self-evolving campaign: offline rounds → promotions → A/B tests → launches.

    Simulates logged data if WORKDIR has none, trains the production baseline, then
    alternates offline rounds (the three personas against the current production Φ and
    the grown journal) and online rounds (each promoted candidate through VALIDATED →
    TRAINING → LIVE → COMPLETED; launches update production) until a budget is spent, and
    writes the report (WORKDIR/report/report.html). --resume continues after a crash.
    """
    from evorec.graphs.campaign import CampaignContext, run_campaign

    ctx = CampaignContext(
        workdir=workdir,
        surface=surface,
        model=model,
        seed=seed,
        log_users=log_users,
        log_days=log_days,
        ab_users=ab_users,
        ab_days=ab_days,
        persona=persona,
        proposals_per_round=proposals_per_round,
        max_proxy_evals=budget_proxy,
        max_ab_tests=budget_ab,
        max_seconds=budget_minutes * 60.0,
        max_rounds=rounds,
    )
    progress = _Progress(ctx, quiet or not sys.stderr.isatty() and as_json)
    result = run_campaign(ctx, resume=resume, on_event=progress)
    if as_json:
        echo_json(result)
        return
    report = result.get("report") or {}
    click.echo(
        f"campaign finished after {result.get('round', 0)} rounds: "
        f"{result.get('proxy_evals', 0)} proxy evaluations, {result.get('ab_tests', 0)} A/B "
        f"tests, {len(result.get('launches') or [])} launches ({result.get('stop_reason')})."
    )
    if report.get("headline"):
        click.echo(report["headline"])
    if report.get("html"):
        click.echo(f"report: {report['html']}  (summary: {report['markdown']})")
