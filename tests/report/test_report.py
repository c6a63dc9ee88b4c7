"""`write_report`: HTML, Markdown and PNG plots from a journal and a production registry."""

from __future__ import annotations

import base64
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from evorec.errors import ConfigError
from evorec.journal import Journal, Status
from evorec.production import ProductionRegistry
from evorec.report import _pearson, _spearman, load_report_data, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    """Tags, text and image sources of an HTML page; fails on unbalanced structure tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.images: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag in ("table", "tr", "td", "th", "p", "h1", "h2", "pre", "caption"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in ("table", "tr", "td", "th", "p", "h1", "h2", "pre", "caption"):
            assert self.open and self.open[-1] == tag, (tag, self.open[-5:])
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> _Collector:
    parser = _Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.open == []
    return parser


def md_table(markdown: str, first_header: str) -> list[list[str]]:
    """Rows of the Markdown table whose header starts with ``first_header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 5_000, (path, len(data))


# --------------------------------------------------------------------- full campaign


def test_html_parses_and_lists_every_experiment(campaign, report):
    page = parse(report.html)
    text = "".join(page.text)
    for exp_id in campaign.ids.values():
        assert exp_id in text
    for status in ("LAUNCHED", "NOT_LAUNCHED", "ABORTED", "REJECTED", "PROXY_WORSE", "FAILED"):
        assert status in text


def test_llm_text_is_escaped(campaign, report):
    raw = report.html.read_text(encoding="utf-8")
    page = parse(report.html)
    assert "script" not in page.tags
    assert "<script>" not in raw
    assert "&lt;script&gt;alert(" in raw
    assert campaign.script_hypothesis in "".join(page.text)  # shown as text, not run
    md = report.markdown.read_text(encoding="utf-8")
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_plots_are_png_and_embedded(report):
    names = sorted(p.name for p in report.plots)
    assert names == ["ab_forest.png", "north_star.png", "personas.png", "proxy_vs_online.png"]
    for plot in report.plots:
        assert plot.parent == report.html.parent
        assert_png(plot)
    embedded = parse(report.html).images
    assert len(embedded) == len(report.plots)
    files = {p.read_bytes() for p in report.plots}
    for src in embedded:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :]) in files


def test_headline_is_the_compounded_launch_lift(campaign, report):
    assert len(campaign.launch_lifts) == 2
    expected = math.prod(1 + lift for lift in campaign.launch_lifts) - 1
    assert expected > 0
    assert f"{expected:+.2%}" in report.headline
    assert "v2" in report.headline
    md = report.markdown.read_text(encoding="utf-8")
    assert report.headline[1:] in md.splitlines()[4]  # the first paragraph
    timeline = md_table(md, "version")
    assert [row[0] for row in timeline] == ["0", "1", "2"]
    assert timeline[1][2] == campaign.ids["launch1"]
    assert timeline[2][2] == campaign.ids["launch2"]
    assert timeline[2][6] == f"{expected:+.2%}"


def test_markdown_leaderboard_is_sorted_by_online_then_proxy(campaign, report):
    md = report.markdown.read_text(encoding="utf-8")
    rows = md_table(md, "#")
    assert {row[1] for row in rows} == set(campaign.ids.values())
    journal = Journal(campaign.journal_path)
    by_id = {r.id: r for r in journal.records()}

    def lift(exp_id):
        ab = (by_id[exp_id].online_result or {}).get("ab") or {}
        value = (ab.get("metrics") or {}).get("active_days", {}).get("rel_lift")
        return value

    ids = [row[1] for row in rows]
    lifts = [lift(i) for i in ids]
    known = [x for x in lifts if x is not None]
    assert known == sorted(known, reverse=True)
    assert lifts[: len(known)] == known  # experiments without an online lift come after
    rest = [by_id[i].improvement for i in ids[len(known) :]]
    proxies = [x for x in rest if x is not None]
    assert proxies == sorted(proxies, reverse=True)
    assert rest[: len(proxies)] == proxies
    # each row shows the rendered delta and the status
    first = rows[0]
    assert first[1] == max((i for i in ids if lift(i) is not None), key=lambda i: lift(i))
    assert first[4].startswith("~ /") and first[7] == "LAUNCHED"


def test_persona_counts(campaign):
    data = load_report_data(campaign.journal_path, campaign.workdir)
    stats = {s.persona: s for s in data.personas}
    records = Journal(campaign.journal_path).records()
    for persona, s in stats.items():
        mine = [r for r in records if (r.persona or "human") == persona]
        assert s.proposals == len(mine)
        assert s.launched == sum(r.status is Status.LAUNCHED for r in mine)
        assert s.rejected == sum(r.status is Status.REJECTED for r in mine)
        assert s.failed == sum(r.status is Status.FAILED for r in mine)
        assert s.aborted == sum(r.status is Status.ABORTED for r in mine)
    assert stats["human"].promoted == 1 and stats["human"].proxy_better == 0
    # PROXY_BETTER counts whoever reached it, even if they went further online.
    assert stats["reward"].proxy_better == 2 and stats["reward"].promoted == 1
    assert sum(s.proposals for s in stats.values()) == len(records)


def test_ab_readouts_and_final_phi(campaign, report):
    md = report.markdown.read_text(encoding="utf-8")
    rows = md_table(md, "experiment")  # the A/B table comes first
    tested = {r[0].split(" ")[0] for r in rows if r[0]}
    assert tested == {
        campaign.ids[k] for k in ("launch1", "flat", "aborted", "launch2", "undefined")
    }
    aborted = next(r for r in rows if r[0].startswith(campaign.ids["aborted"]))
    assert aborted[1] == "(no read-out)" and "guardrail" in aborted[-1]
    undefined = [r for r in rows if r[0].startswith(campaign.ids["undefined"])]
    assert undefined[0][4] == "n/a"  # None lifts are shown, not crashed on
    assert "TrainingDiverged" in md  # the failed one is listed with its reason

    history = ProductionRegistry(campaign.workdir / "production.json").history()
    assert history[0].phi_hash in md and history[-1].phi_hash in md
    block = md.split("```")[-2]
    assert "/optimizer/algorithm" in block and "adam" in block
    assert "/architecture/tower_widths" in block
    assert "/reward" not in block  # the aborted reward change never reached production


# ------------------------------------------------------------------ small journals


def _registry(workdir: Path) -> ProductionRegistry:
    registry = ProductionRegistry(workdir / "production.json")
    registry.initialise()
    return registry


def test_empty_journal(tmp_path):
    Journal(tmp_path / "j.duckdb")
    _registry(tmp_path / "w")
    paths = write_report(tmp_path / "j.duckdb", tmp_path / "w", tmp_path / "out")
    assert paths.headline == "no launch: no north-star lift was found"
    assert paths.plots == []
    text = "".join(parse(paths.html).text)
    assert "journal is empty" in text
    assert "(unchanged)" in text
    md = paths.markdown.read_text(encoding="utf-8")
    assert "**No launch: no north-star lift was found.**" in md


def test_offline_only_and_stale_plots_removed(tmp_path, campaign):
    out = tmp_path / "out"
    write_report(campaign.journal_path, campaign.workdir, out)
    assert (out / "ab_forest.png").exists()

    journal = Journal(tmp_path / "j.duckdb")
    for i, (persona, imp) in enumerate([("optimizer", 0.02), ("reward", -0.1), ("reward", None)]):
        rec = journal.create(
            surface="home_feed",
            author="builtin",
            persona=persona,
            parent_phi_hash="p0",
            hypothesis=f"idea {i}",
            delta=[{"op": "replace", "path": "/training/seed", "value": i + 1}],
        )
        if imp is not None:
            journal.set_proxy_result(rec.id, {"improvement": imp})
            journal.transition(rec.id, Status.PROXY_BETTER if imp > 0 else Status.PROXY_WORSE)
        else:
            journal.set_proxy_result(rec.id, {"improvement": None, "error": "nan loss"})
            journal.transition(rec.id, Status.FAILED, error="proxy: loss nan")
    _registry(tmp_path / "w")
    paths = write_report(tmp_path / "j.duckdb", tmp_path / "w", out)
    assert [p.name for p in paths.plots] == ["personas.png"]
    assert not (out / "ab_forest.png").exists() and not (out / "north_star.png").exists()
    assert_png(paths.plots[0])
    text = "".join(parse(paths.html).text)
    assert "Only offline results" in text
    assert "fewer than 3" in text
    assert "No A/B test has run yet" in text


def test_fewer_than_three_paired_points_says_so(tmp_path, campaign):
    # Two experiments with both results: no correlation is claimed.
    data = load_report_data(campaign.journal_path, campaign.workdir)
    assert len(data.paired) == 3
    from evorec.report import _correlation_text

    text, pearson, spearman = _correlation_text(data.paired[:2])
    assert "fewer than 3" in text and pearson is None and spearman is None
    text, pearson, spearman = _correlation_text(data.paired)
    assert spearman is not None and f"{spearman:+.2f}" in text


def test_correlations_match_scipy():
    from scipy import stats

    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(3, 30))
        x = rng.integers(0, 5, n).astype(float)  # ties on purpose
        y = x + rng.normal(0, 2, n)
        if np.ptp(x) == 0:
            continue
        assert _spearman(list(x), list(y)) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-9)
        assert _pearson(list(x), list(y)) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-9)
    assert _pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None


def test_bad_inputs_raise_config_error(tmp_path, campaign):
    with pytest.raises(ConfigError, match="journal not found"):
        write_report(tmp_path / "missing.duckdb", campaign.workdir, tmp_path / "out")
    assert not (tmp_path / "missing.duckdb").exists()  # not created by the check
    (tmp_path / "bare").mkdir()
    with pytest.raises(ConfigError, match="no production registry"):
        write_report(campaign.journal_path, tmp_path / "bare", tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError):
        write_report(campaign.journal_path, campaign.workdir, tmp_path / "file")


def test_title_is_escaped(tmp_path, campaign):
    paths = write_report(campaign.journal_path, campaign.workdir, tmp_path, title="<b>run</b> 1")
    raw = paths.html.read_text(encoding="utf-8")
    assert "<title>&lt;b&gt;run&lt;/b&gt; 1</title>" in raw


def test_launch_without_readout_makes_the_lift_unknown(tmp_path):
    from evorec.delta import apply_delta

    Journal(tmp_path / "j.duckdb")
    registry = _registry(tmp_path / "w")
    phi = apply_delta(
        registry.current_phi(), [{"op": "replace", "path": "/training/seed", "value": 7}]
    )
    registry.launch(phi, None, "exp-from-elsewhere", note="imported launch")
    paths = write_report(tmp_path / "j.duckdb", tmp_path / "w", tmp_path / "out")
    assert "unknown" in paths.headline and "exp-from-elsewhere" in paths.headline
    md = paths.markdown.read_text(encoding="utf-8")
    assert "/training/seed" in md.split("```")[-2]
    assert [p.name for p in paths.plots] == ["north_star.png"]
    assert_png(paths.plots[0])
