"""The campaign report: what the Experiment Journal and the production registry say happened.

:func:`write_report` reads a journal (every experiment, its proxy and online results and its
status history) and a working directory's production registry, and writes into one folder:

* ``report.html`` — one self-contained page: the plots are embedded as base64 PNG, every
  piece of text that came from an agent (hypotheses, errors, decisions) is HTML-escaped;
* ``summary.md`` — the same content as Markdown tables, with the PNGs linked by relative path;
* the PNG plots themselves (``north_star.png``, ``proxy_vs_online.png``, ``personas.png``,
  ``ab_forest.png``), each only when there is something to draw.

Sections: a one-line headline (the measured north-star lift of final production over the
starting baseline, or "no launch"), status counts, the north star over launches (each
launch's measured lift with its 95% CI; cumulative lift as the product of ``1 + lift``), the
production timeline, proxy against online result (does the proxy predict the north star?),
the journal as a leaderboard, success per persona, every A/B read-out, and the final
production Φ as a delta from the starting one.

Each launch's lift is measured against the production it replaced, so lifts compound: the
cumulative figure multiplies them. It is a point estimate; no interval is claimed for it.

matplotlib is imported inside the plotting functions (the CLI stays fast to import) and used
through its object API (``Figure`` + Agg canvas), which leaves the global backend alone.
"""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evorec.errors import ConfigError, EvorecError

__all__ = [
    "NORTH_STAR",
    "ExperimentRow",
    "LaunchRow",
    "PersonaStats",
    "ReportData",
    "ReportPaths",
    "load_report_data",
    "write_report",
]

#: The north-star metric of the A/B read-outs (``evorec.simulator.NORTH_STAR``; repeated here
#: so that reading a report does not import the simulator and TensorFlow).
NORTH_STAR = "active_days"

#: Plot file names this module writes (stale ones are removed when not drawn again).
_PLOT_NAMES = ("north_star.png", "proxy_vs_online.png", "personas.png", "ab_forest.png")

#: Statuses in display order.
_STATUS_ORDER = (
    "DRAFT",
    "REJECTED",
    "PROXY_WORSE",
    "PROXY_BETTER",
    "PROPOSED",
    "VALIDATED",
    "TRAINING",
    "TRAINED",
    "LIVE",
    "ABORTED",
    "LAUNCHED",
    "NOT_LAUNCHED",
    "FAILED",
)

#: Statuses an experiment passed PROXY_BETTER to reach (when the events do not say).
_AFTER_PROMOTION = frozenset(
    {"PROPOSED", "VALIDATED", "TRAINING", "TRAINED", "LIVE", "ABORTED", "LAUNCHED", "NOT_LAUNCHED"}
)

_PERSONA_COLUMNS = (
    ("proposals", "proposals"),
    ("proxy_better", "proxy-better"),
    ("promoted", "promoted"),
    ("ab_tested", "A/B tested"),
    ("launched", "launched"),
    ("not_launched", "not launched"),
    ("aborted", "aborted"),
    ("rejected", "rejected"),
    ("failed", "failed"),
)


# ------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ReportPaths:
    """What :func:`write_report` wrote."""

    html: Path
    """The self-contained HTML report (plots embedded)."""
    markdown: Path
    """The Markdown summary (plots linked by relative path)."""
    plots: list[Path] = field(default_factory=list)
    """The PNG plots written (only those with something to draw)."""
    headline: str = ""
    """The report's first sentence: the measured north-star lift, or that none was found."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "html": str(self.html),
            "markdown": str(self.markdown),
            "plots": [str(p) for p in self.plots],
            "headline": self.headline,
        }


@dataclass(frozen=True)
class ExperimentRow:
    """One experiment as the report shows it (numbers are finite or None)."""

    id: str
    who: str
    """Persona, or the author for human submissions."""
    persona: str
    """Persona name, ``human`` when there is none."""
    author: str
    hypothesis: str
    delta: str
    """The delta rendered one operation per line."""
    status: str
    improvement: float | None
    """Proxy improvement over the baseline (higher is better)."""
    lift: float | None
    """Online north-star relative lift."""
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    aborted: bool
    """The A/B test was stopped by a guardrail (or the experiment is ABORTED)."""
    has_ab: bool
    """The online result holds an A/B read-out."""
    metrics: dict[str, dict[str, Any]]
    """Every A/B metric read-out (``MetricReadout.to_dict`` form)."""
    srm_p: float | None
    valid: bool | None
    decision: str
    """The launch decision's summary, or the online failure."""
    error: str | None
    reached: frozenset[str]
    """Every status the experiment has been in."""


@dataclass(frozen=True)
class LaunchRow:
    """One production version."""

    version: int
    experiment_id: str | None
    phi_hash: str
    since: str
    note: str
    lift: float | None
    """The launch's measured north-star lift (None for the baseline or when unknown)."""
    ci_low: float | None
    ci_high: float | None
    cumulative: float | None
    """Product of ``1 + lift`` over launches so far, minus 1 (None once a lift is unknown)."""


@dataclass(frozen=True)
class PersonaStats:
    """Counts of one persona's experiments."""

    persona: str
    proposals: int
    proxy_better: int
    promoted: int
    ab_tested: int
    launched: int
    not_launched: int
    aborted: int
    rejected: int
    failed: int

    def rate(self, name: str) -> float | None:
        return getattr(self, name) / self.proposals if self.proposals else None


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, computed from the journal and the registry."""

    title: str
    generated_at: str
    journal_path: str
    workdir: str
    experiments: list[ExperimentRow]
    """In creation order."""
    launches: list[LaunchRow]
    """Production versions, baseline first."""
    personas: list[PersonaStats]
    status_counts: dict[str, int]
    start_phi: dict[str, Any]
    final_phi: dict[str, Any]
    start_hash: str
    final_hash: str
    phi_delta: str
    """The final production Φ as a delta from the starting one, rendered."""
    headline: str

    @property
    def leaderboard(self) -> list[ExperimentRow]:
        """Experiments by online lift, then proxy improvement (unknown last), then age."""
        order = {row.id: i for i, row in enumerate(self.experiments)}
        return sorted(
            self.experiments,
            key=lambda r: (
                r.lift is None,
                -(r.lift or 0.0),
                r.improvement is None,
                -(r.improvement or 0.0),
                order[r.id],
            ),
        )

    @property
    def paired(self) -> list[ExperimentRow]:
        """Experiments with both a proxy improvement and an online north-star lift."""
        return [r for r in self.experiments if r.improvement is not None and r.lift is not None]

    @property
    def cumulative_lift(self) -> float | None:
        return self.launches[-1].cumulative if len(self.launches) > 1 else None


def _num(value: Any) -> float | None:
    """A finite float, or None (for None, NaN, inf, strings, booleans)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _north_star(online: Mapping[str, Any] | None) -> dict[str, Any]:
    ab = (online or {}).get("ab")
    if not isinstance(ab, Mapping):
        return {}
    metrics = ab.get("metrics")
    if not isinstance(metrics, Mapping):
        return {}
    name = ab.get("north_star") or NORTH_STAR
    readout = metrics.get(name)
    return dict(readout) if isinstance(readout, Mapping) else {}


def _render(delta: Any) -> str:
    from evorec.delta import render_delta

    try:
        return render_delta(delta)
    except EvorecError:
        import json

        return json.dumps(delta, ensure_ascii=False, default=str)


def _experiment_row(record: Any, reached: set[str]) -> ExperimentRow:
    from evorec.journal import improvement_of

    online = record.online_result if isinstance(record.online_result, Mapping) else {}
    ab = online.get("ab") if isinstance(online.get("ab"), Mapping) else {}
    star = _north_star(online)
    metrics = ab.get("metrics") if isinstance(ab.get("metrics"), Mapping) else {}
    decision = online.get("decision") if isinstance(online.get("decision"), Mapping) else {}
    summary = decision.get("summary") or online.get("error") or online.get("reason") or ""
    srm = ab.get("srm") if isinstance(ab.get("srm"), Mapping) else {}
    status = record.status.value
    reached = set(reached) | {status}
    return ExperimentRow(
        id=record.id,
        who=record.persona or record.author,
        persona=record.persona or "human",
        author=record.author,
        hypothesis=record.hypothesis,
        delta=_render(record.delta),
        status=status,
        improvement=improvement_of(record.proxy_result),
        lift=_num(star.get("rel_lift")),
        ci_low=_num(star.get("ci_low")),
        ci_high=_num(star.get("ci_high")),
        p_value=_num(star.get("p_value")),
        aborted=bool(ab.get("aborted")) or status == "ABORTED",
        has_ab=bool(ab),
        metrics=dict(
            sorted(
                ((str(k), dict(v)) for k, v in metrics.items() if isinstance(v, Mapping)),
                key=lambda kv: (kv[0] != (ab.get("north_star") or NORTH_STAR), kv[0]),
            )
        ),
        srm_p=_num(srm.get("p_value")),
        valid=ab.get("valid") if isinstance(ab.get("valid"), bool) else None,
        decision=str(summary),
        error=record.error,
        reached=frozenset(reached),
    )


def _persona_stats(rows: Sequence[ExperimentRow]) -> list[PersonaStats]:
    groups: dict[str, list[ExperimentRow]] = {}
    for row in rows:
        groups.setdefault(row.persona, []).append(row)
    out = []
    for persona in sorted(groups, key=lambda p: (p == "human", p)):
        group = groups[persona]

        def count(pred: Any, group: list[ExperimentRow] = group) -> int:
            return sum(1 for r in group if pred(r))

        out.append(
            PersonaStats(
                persona=persona,
                proposals=len(group),
                proxy_better=count(
                    lambda r: (
                        "PROXY_BETTER" in r.reached
                        or (r.improvement is not None and bool(r.reached & _AFTER_PROMOTION))
                    )
                ),
                promoted=count(lambda r: bool(r.reached & _AFTER_PROMOTION)),
                ab_tested=count(lambda r: r.has_ab),
                launched=count(lambda r: r.status == "LAUNCHED"),
                not_launched=count(lambda r: r.status == "NOT_LAUNCHED"),
                aborted=count(lambda r: r.status == "ABORTED"),
                rejected=count(lambda r: r.status == "REJECTED"),
                failed=count(lambda r: r.status == "FAILED"),
            )
        )
    return out


def _launch_rows(history: Sequence[Any], by_id: Mapping[str, ExperimentRow]) -> list[LaunchRow]:
    rows = []
    cumulative: float | None = 0.0
    for rec in history:
        lift = ci_low = ci_high = None
        if rec.version > 0:
            row = by_id.get(rec.experiment_id or "")
            if row is not None:
                lift, ci_low, ci_high = row.lift, row.ci_low, row.ci_high
            if cumulative is not None and lift is not None:
                cumulative = (1.0 + cumulative) * (1.0 + lift) - 1.0
            else:
                cumulative = None
        rows.append(
            LaunchRow(
                version=rec.version,
                experiment_id=rec.experiment_id,
                phi_hash=rec.phi_hash,
                since=rec.since,
                note=rec.note,
                lift=lift,
                ci_low=ci_low,
                ci_high=ci_high,
                cumulative=cumulative,
            )
        )
    return rows


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:+.{digits}%}"


def _ci(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ""
    return f"[{low:+.2%}, {high:+.2%}]"


def _headline(launches: Sequence[LaunchRow]) -> str:
    launched = [row for row in launches if row.version > 0]
    if not launched:
        return "no launch: no north-star lift was found"
    final = launches[-1]
    n = len(launched)
    plural = "es" if n != 1 else ""
    if final.cumulative is None:
        unknown = [r.experiment_id or f"v{r.version}" for r in launched if r.lift is None]
        return (
            f"final production v{final.version} ({final.phi_hash}) came from {n} launch{plural}, "
            f"but the north-star lift over the starting baseline is unknown: no A/B read-out "
            f"in the journal for {', '.join(unknown)}"
        )
    return (
        f"final production v{final.version} ({final.phi_hash}) measured a north-star "
        f"({NORTH_STAR}) lift of {final.cumulative:+.2%} over the starting baseline across "
        f"{n} launch{plural} (the product of each launch's measured lift)"
    )


def load_report_data(
    journal_path: str | Path, workdir: str | Path, *, title: str | None = None
) -> ReportData:
    """Read the journal and ``workdir/production.json`` into the report's content.

    Raises :class:`~evorec.errors.ConfigError` if the journal file does not exist or the
    working directory has no production registry.
    """
    from evorec.delta import diff, render_delta
    from evorec.journal import Journal
    from evorec.production import ProductionRegistry

    journal_file = Path(journal_path)
    if not journal_file.is_file():
        raise ConfigError(f"journal not found: {journal_file}")
    registry_file = Path(workdir) / "production.json"
    if not registry_file.is_file():
        raise ConfigError(
            f"no production registry in {workdir} (expected {registry_file}; "
            "run `evorec online` or a campaign with this --workdir)"
        )
    journal = Journal(journal_file)
    records = journal.records()
    reached: dict[str, set[str]] = {}
    for event in journal.events():
        if event.get("to_status"):
            reached.setdefault(event["experiment_id"], set()).add(event["to_status"])
    rows = [_experiment_row(r, reached.get(r.id, set())) for r in records]
    by_id = {row.id: row for row in rows}

    history = ProductionRegistry(registry_file).history()
    launches = _launch_rows(history, by_id)
    start, final = history[0], history[-1]
    patch = diff(start.phi, final.phi)
    phi_delta = render_delta(patch, base=start.phi)

    counts = Counter(row.status for row in rows)
    status_counts = {s: counts[s] for s in _STATUS_ORDER if counts.get(s)}
    surfaces = sorted({r.surface for r in records})
    default_title = "evorec campaign report" + (f" — {', '.join(surfaces)}" if surfaces else "")
    return ReportData(
        title=title or default_title,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        journal_path=str(journal_file),
        workdir=str(workdir),
        experiments=rows,
        launches=launches,
        personas=_persona_stats(rows),
        status_counts=status_counts,
        start_phi=start.phi,
        final_phi=final.phi,
        start_hash=start.phi_hash,
        final_hash=final.phi_hash,
        phi_delta=phi_delta,
        headline=_headline(launches),
    )


# ----------------------------------------------------------------------- statistics


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    return _pearson(_ranks(x), _ranks(y))


def _correlation_text(rows: Sequence[ExperimentRow]) -> tuple[str, float | None, float | None]:
    n = len(rows)
    if n < 3:
        return (
            f"only {n} experiment{'s' if n != 1 else ''} {'has' if n == 1 else 'have'} both a "
            "proxy and an online result: too few (fewer than 3) to say whether the proxy "
            "predicts the north star",
            None,
            None,
        )
    x = [r.improvement for r in rows]
    y = [r.lift for r in rows]
    pearson, spearman = _pearson(x, y), _spearman(x, y)  # type: ignore[arg-type]
    if pearson is None or spearman is None:
        return (
            f"{n} experiments have both results, but one of the two does not vary: "
            "no correlation can be computed",
            pearson,
            spearman,
        )
    strength = abs(spearman)
    verdict = (
        "the proxy ranks candidates much as the north star does"
        if spearman >= 0.6
        else "the proxy predicts the north star weakly"
        if spearman >= 0.3
        else "the proxy does not predict the north star"
        if strength < 0.3
        else "the proxy ranks candidates against the north star"
    )
    personas = {r.persona for r in rows}
    caveat = (
        " (proxies of different personas are on different scales; see the colours)"
        if len(personas) > 1
        else ""
    )
    return (
        f"Spearman ρ = {spearman:+.2f}, Pearson r = {pearson:+.2f} over {n} experiments: "
        f"{verdict}{caveat}",
        pearson,
        spearman,
    )


# --------------------------------------------------------------------------- plots


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, format="png")
    return path


def _plot_north_star(data: ReportData, path: Path) -> Path | None:
    launches = data.launches
    if len(launches) < 2:
        return None
    fig = _figure(8, 6)
    top, bottom = fig.subplots(2, 1, sharex=True)
    versions = [r.version for r in launches]
    cumulative = [r.cumulative * 100 if r.cumulative is not None else math.nan for r in launches]
    top.step(versions, cumulative, where="post", color="tab:blue")
    top.plot(versions, cumulative, "o", color="tab:blue")
    for r, c in zip(launches, cumulative, strict=True):
        if r.version > 0 and not math.isnan(c):
            top.annotate(
                r.experiment_id or "",
                (r.version, c),
                fontsize=7,
                rotation=20,
                xytext=(4, 4),
                textcoords="offset points",
            )
    top.axhline(0, color="grey", lw=0.8)
    top.margins(x=0.08, y=0.15)
    top.set_ylabel(f"cumulative {NORTH_STAR} lift (%)")
    top.set_title("north star over launches (product of each launch's measured lift)")
    for r in launches[1:]:
        if r.lift is None:
            bottom.plot([r.version], [0], "x", color="tab:red")
            continue
        low = r.ci_low if r.ci_low is not None else r.lift
        high = r.ci_high if r.ci_high is not None else r.lift
        bottom.errorbar(
            [r.version],
            [r.lift * 100],
            yerr=[[max(r.lift - low, 0) * 100], [max(high - r.lift, 0) * 100]],
            fmt="o",
            color="tab:green",
            capsize=4,
        )
    bottom.axhline(0, color="grey", lw=0.8)
    bottom.set_ylabel("launch lift, 95% CI (%)")
    bottom.set_xlabel("production version")
    bottom.set_xticks(versions)
    return _save(fig, path)


def _persona_colours(personas: Sequence[str]) -> dict[str, Any]:
    palette = [
        "tab:blue",
        "tab:orange",
        "tab:green",
        "tab:purple",
        "tab:brown",
        "tab:pink",
        "tab:olive",
        "tab:cyan",
        "tab:red",
        "tab:grey",
    ]
    return {p: palette[i % len(palette)] for i, p in enumerate(sorted(personas))}


def _plot_proxy_vs_online(data: ReportData, path: Path) -> Path | None:
    rows = data.paired
    if not rows:
        return None
    fig = _figure(7, 5)
    ax = fig.subplots()
    colours = _persona_colours({r.persona for r in rows})
    for persona, colour in colours.items():
        group = [r for r in rows if r.persona == persona]
        xs = [r.improvement for r in group]
        ys = [r.lift * 100 for r in group]  # type: ignore[operator]
        lows = [
            max(r.lift - (r.ci_low if r.ci_low is not None else r.lift), 0) * 100 for r in group
        ]  # type: ignore[operator]
        highs = [
            max((r.ci_high if r.ci_high is not None else r.lift) - r.lift, 0) * 100 for r in group
        ]  # type: ignore[operator]
        ax.errorbar(
            xs, ys, yerr=[lows, highs], fmt="o", color=colour, capsize=3, label=persona, alpha=0.85
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("proxy improvement over baseline (higher is better)")
    ax.set_ylabel(f"online {NORTH_STAR} lift, 95% CI (%)")
    _, pearson, spearman = _correlation_text(rows)
    if pearson is None or spearman is None:
        numbers = f"n = {len(rows)}: too few or too uniform for a correlation"
    else:
        numbers = f"Spearman ρ = {spearman:+.2f}, Pearson r = {pearson:+.2f}, n = {len(rows)}"
    ax.set_title(f"does the proxy predict the north star?\n{numbers}", fontsize=10)
    ax.legend(title="persona", fontsize=8)
    return _save(fig, path)


def _plot_personas(data: ReportData, path: Path) -> Path | None:
    stats = data.personas
    if not stats:
        return None
    names = [
        ("proxy_better", "proxy-better"),
        ("promoted", "promoted"),
        ("launched", "launched"),
        ("rejected_failed", "rejected/failed"),
    ]
    fig = _figure(max(6, 1.6 * len(stats) + 2), 4.5)
    ax = fig.subplots()
    width = 0.8 / len(names)
    for j, (key, label) in enumerate(names):
        values = []
        for s in stats:
            count = s.rejected + s.failed if key == "rejected_failed" else getattr(s, key)
            values.append(100 * count / s.proposals if s.proposals else 0.0)
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(stats))]
        ax.bar(xs, values, width=width, label=label)
    ax.set_xticks(range(len(stats)))
    ax.set_xticklabels([f"{s.persona}\n(n={s.proposals})" for s in stats])
    ax.set_ylabel("share of proposals (%)")
    ax.set_ylim(0, 105)
    ax.set_title("success rate per persona")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _plot_forest(data: ReportData, path: Path) -> Path | None:
    rows = [r for r in data.experiments if r.has_ab]
    if not rows:
        return None
    fig = _figure(8, min(0.35 * len(rows) + 1.6, 60))
    ax = fig.subplots()
    labels = []
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        label = r.id + (" (aborted)" if r.aborted else "")
        if r.lift is None:
            ax.plot([0], [y], "x", color="tab:red")
            label += " — no read-out"
        else:
            low = r.ci_low if r.ci_low is not None else r.lift
            high = r.ci_high if r.ci_high is not None else r.lift
            colour = (
                "tab:red" if r.aborted else "tab:green" if r.status == "LAUNCHED" else "tab:grey"
            )
            ax.errorbar(
                [r.lift * 100],
                [y],
                xerr=[[max(r.lift - low, 0) * 100], [max(high - r.lift, 0) * 100]],
                fmt="s" if r.aborted else "o",
                color=colour,
                capsize=3,
            )
        labels.append((y, label))
    ax.set_yticks([y for y, _ in labels])
    ax.set_yticklabels([text for _, text in labels], fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"{NORTH_STAR} relative lift, 95% CI (%)")
    ax.set_title(
        "every A/B read-out (green: launched, red: aborted, grey: not launched)", fontsize=10
    )
    return _save(fig, path)


# --------------------------------------------------------------------------- writers


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _lines_html(text: str) -> str:
    return "<br>".join(_e(line) for line in text.splitlines())


def _fmt(value: float | None, spec: str = "+.4g") -> str:
    return "" if value is None else format(value, spec)


def _metric_cells(m: Mapping[str, Any]) -> list[str]:
    def f(key: str, spec: str) -> str:
        v = _num(m.get(key))
        return "n/a" if v is None else format(v, spec)

    lift = _num(m.get("rel_lift"))
    return [
        f("control_mean", ".4g"),
        f("treatment_mean", ".4g"),
        _pct(lift),
        _ci(_num(m.get("ci_low")), _num(m.get("ci_high"))),
        f("p_value", ".3g"),
        "yes" if m.get("cuped") else "no",
        f"{m.get('n_control', '')}/{m.get('n_treatment', '')}",
    ]


_METRIC_HEAD = ["control", "treatment", "lift", "95% CI", "p", "CUPED", "n (c/t)"]


def _sections(data: ReportData, summary: str) -> list[dict[str, Any]]:
    """The report as neutral blocks, rendered by both writers.

    Each block: ``{"kind": "h2"|"p"|"table"|"plot"|"pre", ...}``; table cells are plain text
    (``\\n`` = line break), escaped by the writer.
    """
    blocks: list[dict[str, Any]] = []
    add = blocks.append
    add({"kind": "p", "text": data.headline[0].upper() + data.headline[1:] + ".", "strong": True})
    n = len(data.experiments)
    if n == 0:
        add({"kind": "p", "text": "The journal is empty: no experiment has been recorded yet."})
    else:
        counts = ", ".join(f"{k} {v}" for k, v in data.status_counts.items())
        add({"kind": "p", "text": f"{n} experiment{'s' if n != 1 else ''}: {counts}."})
        if not any(r.has_ab or r.status in _AFTER_PROMOTION for r in data.experiments):
            add(
                {
                    "kind": "p",
                    "text": "Only offline results so far: no experiment reached the online loop.",
                }
            )
    add(
        {
            "kind": "table",
            "head": ["status", "experiments"],
            "rows": [[k, str(v)] for k, v in data.status_counts.items()] or [["(none)", "0"]],
            "caption": "Status counts",
        }
    )

    add({"kind": "h2", "text": "North star over launches"})
    launched = [r for r in data.launches if r.version > 0]
    if not launched:
        add(
            {
                "kind": "p",
                "text": "No candidate has been launched: production is still the starting baseline.",
            }
        )
    add(
        {
            "kind": "plot",
            "name": "north_star.png",
            "alt": "cumulative north-star lift over launches",
        }
    )
    add(
        {
            "kind": "table",
            "caption": "Production timeline",
            "head": [
                "version",
                "since",
                "experiment",
                "Φ hash",
                f"{NORTH_STAR} lift",
                "95% CI",
                "cumulative",
                "note",
            ],
            "rows": [
                [
                    str(r.version),
                    r.since,
                    r.experiment_id or "(starting baseline)",
                    r.phi_hash,
                    "" if r.version == 0 else _pct(r.lift),
                    _ci(r.ci_low, r.ci_high),
                    _pct(r.cumulative),
                    r.note,
                ]
                for r in data.launches
            ],
        }
    )

    add({"kind": "h2", "text": "Proxy result against online result"})
    add(
        {
            "kind": "p",
            "text": "Does the proxy predict the north star? "
            + summary[0].upper()
            + summary[1:]
            + ".",
        }
    )
    add(
        {
            "kind": "plot",
            "name": "proxy_vs_online.png",
            "alt": "proxy improvement against online north-star lift",
        }
    )

    add({"kind": "h2", "text": "Leaderboard"})
    if n == 0:
        add({"kind": "p", "text": "(no experiments)"})
    else:
        add(
            {
                "kind": "table",
                "caption": "Every experiment, by online north-star lift, then proxy improvement",
                "head": [
                    "#",
                    "id",
                    "persona / author",
                    "hypothesis",
                    "delta",
                    "proxy improvement",
                    f"online {NORTH_STAR} lift [95% CI]",
                    "status",
                ],
                "rows": [
                    [
                        str(i),
                        r.id,
                        r.who if r.persona == "human" else f"{r.persona} / {r.author}",
                        r.hypothesis,
                        r.delta,
                        _fmt(r.improvement),
                        ""
                        if r.lift is None
                        else f"{_pct(r.lift)} {_ci(r.ci_low, r.ci_high)}".strip(),
                        r.status,
                    ]
                    for i, r in enumerate(data.leaderboard, start=1)
                ],
                "wide": {3, 4},
            }
        )

    add({"kind": "h2", "text": "Success rate per persona"})
    if not data.personas:
        add({"kind": "p", "text": "(no proposals)"})
    else:
        head = ["persona"]
        for _, label in _PERSONA_COLUMNS:
            head.append(label)
        rows = []
        for s in data.personas:
            row = [s.persona, str(s.proposals)]
            for key, _ in _PERSONA_COLUMNS[1:]:
                rate = s.rate(key)
                row.append(f"{getattr(s, key)} ({rate:.0%})" if rate is not None else "0")
            rows.append(row)
        add({"kind": "table", "head": head, "rows": rows, "caption": "Counts (share of proposals)"})
    add({"kind": "plot", "name": "personas.png", "alt": "success rate per persona"})

    add({"kind": "h2", "text": "A/B read-outs"})
    tested = [r for r in data.experiments if r.has_ab]
    if not tested:
        add({"kind": "p", "text": "No A/B test has run yet."})
    else:
        add(
            {
                "kind": "plot",
                "name": "ab_forest.png",
                "alt": "north-star lift with 95% CI per A/B test",
            }
        )
        rows = []
        for r in tested:
            aborted = ", aborted" if r.aborted and r.status != "ABORTED" else ""
            header = f"{r.id} ({r.status}{aborted})"
            srm = (
                ""
                if r.srm_p is None
                else f"SRM p {r.srm_p:.3g}" + ("" if r.valid is not False else " INVALID")
            )
            if not r.metrics:
                rows.append([header, "(no read-out)", *[""] * len(_METRIC_HEAD), r.decision])
            for i, (name, m) in enumerate(r.metrics.items()):
                star = " *" if name == NORTH_STAR else ""
                rows.append(
                    [
                        header if i == 0 else "",
                        name + star,
                        *_metric_cells(m),
                        (srm + ("\n" if srm and r.decision else "") + r.decision) if i == 0 else "",
                    ]
                )
        add(
            {
                "kind": "table",
                "caption": f"Every metric of every A/B test (* the north star, {NORTH_STAR})",
                "head": ["experiment", "metric", *_METRIC_HEAD, "validity / decision"],
                "rows": rows,
                "wide": {9},
            }
        )
    failed = [
        r
        for r in data.experiments
        if r.status == "FAILED" or (r.status == "ABORTED" and not r.has_ab)
    ]
    if failed:
        add(
            {
                "kind": "table",
                "caption": "Online experiments that stopped before a read-out",
                "head": ["experiment", "status", "reason"],
                "rows": [[r.id, r.status, r.error or r.decision] for r in failed],
                "wide": {2},
            }
        )

    add({"kind": "h2", "text": "Final production Φ against the starting one"})
    add(
        {
            "kind": "p",
            "text": f"starting Φ {data.start_hash} → final Φ {data.final_hash}"
            + (" (unchanged)" if data.start_hash == data.final_hash else ""),
        }
    )
    add({"kind": "pre", "text": data.phi_delta})
    return blocks


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.wide { max-width: 28em; }
caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
img { max-width: 100%; }
p.headline { font-size: 1.15em; font-weight: 600; }
.meta { color: #666; font-size: 0.85em; }
"""


def _write_html(
    data: ReportData, blocks: Sequence[dict[str, Any]], plots: Mapping[str, Path], path: Path
) -> None:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(data.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(data.title)}</h1>",
        f'<p class="meta">generated {_e(data.generated_at)} from journal {_e(data.journal_path)} '
        f"and workdir {_e(data.workdir)}</p>",
    ]
    for b in blocks:
        kind = b["kind"]
        if kind == "h2":
            out.append(f"<h2>{_e(b['text'])}</h2>")
        elif kind == "p":
            cls = ' class="headline"' if b.get("strong") else ""
            out.append(f"<p{cls}>{_e(b['text'])}</p>")
        elif kind == "pre":
            out.append(f"<pre>{_e(b['text'])}</pre>")
        elif kind == "plot":
            plot = plots.get(b["name"])
            if plot is not None:
                encoded = base64.b64encode(plot.read_bytes()).decode("ascii")
                out.append(
                    f'<p><img alt="{_e(b["alt"])}" title="{_e(b["name"])}" '
                    f'src="data:image/png;base64,{encoded}"></p>'
                )
        elif kind == "table":
            wide = b.get("wide", set())
            out.append("<table>")
            if b.get("caption"):
                out.append(f"<caption>{_e(b['caption'])}</caption>")
            out.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in b["head"]) + "</tr>")
            for row in b["rows"]:
                cells = []
                for i, cell in enumerate(row):
                    cls = ' class="wide"' if i in wide else ""
                    cells.append(f"<td{cls}>{_lines_html(cell)}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</table>")
    out.append("</body></html>")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def _md_cell(text: str, limit: int = 300) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    escaped = html.escape(text, quote=False).replace("|", "\\|")
    return "<br>".join(line.strip() for line in escaped.splitlines()) or " "


def _write_markdown(
    data: ReportData, blocks: Sequence[dict[str, Any]], plots: Mapping[str, Path], path: Path
) -> None:
    out = [
        f"# {_md_cell(data.title)}",
        "",
        f"_generated {data.generated_at} from journal `{data.journal_path}` and workdir `{data.workdir}`_",
        "",
    ]
    for b in blocks:
        kind = b["kind"]
        if kind == "h2":
            out += [f"## {b['text']}", ""]
        elif kind == "p":
            text = _md_cell(b["text"], limit=10_000)
            out += [f"**{text}**" if b.get("strong") else text, ""]
        elif kind == "pre":
            out += ["```", b["text"].replace("```", "ʼʼʼ"), "```", ""]
        elif kind == "plot":
            if b["name"] in plots:
                out += [f"![{b['alt']}]({b['name']})", ""]
        elif kind == "table":
            if b.get("caption"):
                out += [f"_{b['caption']}_", ""]
            out.append("| " + " | ".join(_md_cell(h) for h in b["head"]) + " |")
            out.append("|" + "---|" * len(b["head"]))
            for row in b["rows"]:
                out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
            out.append("")
    path.write_text("\n".join(out), encoding="utf-8")


def write_report(
    journal_path: str | Path,
    workdir: str | Path,
    out_dir: str | Path,
    *,
    title: str | None = None,
) -> ReportPaths:
    """Write ``report.html``, ``summary.md`` and the PNG plots of a campaign into ``out_dir``.

    Works with an empty journal, one holding only offline results, and results with missing
    or NaN numbers (shown as ``n/a``). Raises :class:`~evorec.errors.ConfigError` when the
    journal file does not exist, the working directory has no ``production.json``, or
    ``out_dir`` cannot be written.
    """
    data = load_report_data(journal_path, workdir, title=title)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create report folder {out}: {exc.strerror}") from None
    if not out.is_dir():
        raise ConfigError(f"report output is not a folder: {out}")
    summary, _, _ = _correlation_text(data.paired)

    plots: dict[str, Path] = {}
    makers = {
        "north_star.png": lambda p: _plot_north_star(data, p),
        "proxy_vs_online.png": lambda p: _plot_proxy_vs_online(data, p),
        "personas.png": lambda p: _plot_personas(data, p),
        "ab_forest.png": lambda p: _plot_forest(data, p),
    }
    try:
        for name in _PLOT_NAMES:
            target = out / name
            written = makers[name](target)
            if written is not None:
                plots[name] = written
            elif target.exists():
                target.unlink()  # a stale plot from an earlier report
        blocks = _sections(data, summary)
        html_path, md_path = out / "report.html", out / "summary.md"
        _write_html(data, blocks, plots, html_path)
        _write_markdown(data, blocks, plots, md_path)
    except OSError as exc:
        raise ConfigError(f"cannot write the report into {out}: {exc}") from None
    return ReportPaths(
        html=html_path, markdown=md_path, plots=list(plots.values()), headline=data.headline
    )
