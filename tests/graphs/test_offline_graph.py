"""The offline agent graph: shape, repair loop, rejection, the Reward persona's SQL path,
prompt sections and history order, promotion, resume after interruption, and (slow) the
built-in proposer finding a proxy improvement on a small simulated surface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _fakes import ScriptedChatModel

from evorec.graphs import offline_nodes
from evorec.graphs.offline import build_offline_graph, graph, run_offline
from evorec.graphs.offline_nodes import DeltaModel, HypothesisModel, label_sql
from evorec.graphs.offline_state import OfflineContext
from evorec.journal import Journal, Status
from evorec.proposers import LLMProposer, PatchOperation
from evorec.ranker.schema import baseline_phi

# ------------------------------------------------------------------------------ fakes


def op(name: str, path: str, value_json: str | None = None) -> PatchOperation:
    return PatchOperation(op=name, path=path, value_json=value_json)


def hyp(text: str) -> HypothesisModel:
    return HypothesisModel(hypothesis=text)


def delta(*ops: PatchOperation) -> DeltaModel:
    return DeltaModel(delta=list(ops))


def scripted(*script: Any, **options: Any) -> tuple[LLMProposer, ScriptedChatModel]:
    model = ScriptedChatModel(script=list(script))
    return LLMProposer(model, name="fake:scripted", **options), model


LIKE_LABEL = delta(op("replace", "/reward/terms/0/signal", '"like"'))


# --------------------------------------------------------------------------- fixtures


def _logs_with_outcomes(path: Path) -> Path:
    """Synthetic logs plus user_days whose activity follows each user's like rate (so a
    label built on likes tracks the north star better than click)."""
    import duckdb
    import pyarrow as pa

    from evorec.ranker.data import write_synthetic_logs

    write_synthetic_logs(path, users=200, docs=100, impressions=6_000, seed=3)
    con = duckdb.connect(str(path))
    try:
        users, like_rate = (
            con.execute(
                "SELECT user_id, AVG(CAST(liked AS DOUBLE)) FROM impressions GROUP BY user_id "
                "ORDER BY user_id"
            )
            .fetchnumpy()
            .values()
        )
        rng = np.random.default_rng(0)
        days = 4
        p_active = 1.0 / (1.0 + np.exp(-(12.0 * (like_rate - like_rate.mean()))))
        active = rng.random((days, users.size)) < p_active
        table = pa.table(
            {
                "user_id": pa.array(np.tile(users, days).astype(np.int32)),
                "day": pa.array(np.repeat(np.arange(days), users.size).astype(np.int32)),
                "active": pa.array(active.ravel()),
                "time_spent": pa.array(active.ravel() * 100.0),
                "clicks": pa.array(np.zeros(days * users.size, np.int32)),
                "satisfaction": pa.array(p_active[np.tile(np.arange(users.size), days)]),
            }
        )
        con.register("_days", table)
        con.execute("INSERT INTO user_days SELECT * FROM _days")
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def outcome_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _logs_with_outcomes(tmp_path_factory.mktemp("offline") / "logs.duckdb")


@pytest.fixture(scope="session")
def simulated_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 users × 2 days of the home_feed surface (about 15 s, TensorFlow start-up included)."""
    from evorec.simulator.logs import simulate

    out = tmp_path_factory.mktemp("offline-sim") / "logs.duckdb"
    simulate("home_feed", 300, 2, 0, out)
    return out


def make_ctx(tmp_path: Path, data: Path, **overrides: Any) -> OfflineContext:
    settings: dict[str, Any] = {
        "model": "builtin",
        "persona": "optimizer",
        "budget": 1,
        "data_path": str(data),
        "journal_path": str(tmp_path / "journal.duckdb"),
        "workdir": str(tmp_path / "runs"),
        "proxy_seeds": (0, 1),
        "proxy_budget": 20,
    }
    settings.update(overrides)
    return OfflineContext(**settings)


@pytest.fixture()
def no_compute_loss(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make compute_loss fail loudly if anything calls it."""
    calls: list[Any] = []

    def forbidden(ctx: Any, state: Any) -> Any:
        calls.append(state.get("persona"))
        raise AssertionError("compute_loss must not be called here")

    monkeypatch.setattr(offline_nodes, "_compute_loss", forbidden)
    return calls


# ------------------------------------------------------------------------------ shape


def test_graph_shape_is_pinned():
    mermaid = graph.get_graph().draw_mermaid()
    edges = {line.strip().rstrip(";") for line in mermaid.splitlines() if "->" in line}
    assert edges == {
        "__start__ --> setup",
        "setup -.-> think",
        "setup -.-> __end__",
        "think -.-> code",
        "think -.-> think",
        "think -.-> journal",
        "code -.-> verify",
        "code -.-> code",
        "code -.-> journal",
        "verify -.-> tool",
        "verify -.-> code",
        "verify -.-> journal",
        "tool -.-> judge",
        "tool -.-> journal",
        "judge --> journal",
        "journal -.-> promote",
        "journal -.-> think",
        "journal -.-> __end__",
        "promote -.-> think",
        "promote -.-> __end__",
    }
    assert graph.name == "offline"
    assert graph.checkpointer is None
    compiled = build_offline_graph().compile()
    assert set(compiled.get_output_jsonschema()["properties"]) == {
        "experiments",
        "promoted",
        "last",
    }


# ------------------------------------------------------------------- repair and rejection


def test_a_hallucinated_field_is_repaired_after_the_error_is_shown(tmp_path, outcome_logs):
    proposer, model = scripted(
        hyp("Adam converges faster than adagrad on this budget."),
        delta(
            op("replace", "/optimizer/algorithm", '"adam"'),
            op("add", "/optimizer/lookahead_steps", "5"),
        ),
        delta(
            op("replace", "/optimizer/algorithm", '"adam"'),
            op("replace", "/optimizer/learning_rate", "0.003"),
        ),
    )
    ctx = make_ctx(tmp_path, outcome_logs, proposer=proposer)
    out = run_offline(ctx, thread_id="repair")

    assert len(model.prompts) == 3  # think, code, repaired code
    assert "lookahead_steps" not in model.prompts[1]
    assert "# Repair" in model.prompts[2] and "lookahead_steps" in model.prompts[2]
    (record,) = Journal(ctx.journal_path).records()
    assert record.id == out["experiments"][0]
    assert record.status in (Status.PROXY_BETTER, Status.PROXY_WORSE, Status.PROPOSED)
    assert record.delta == [
        {"op": "replace", "path": "/optimizer/algorithm", "value": "adam"},
        {"op": "replace", "path": "/optimizer/learning_rate", "value": 0.003},
    ]
    assert record.hypothesis == "Adam converges faster than adagrad on this budget."
    assert record.proxy_result["tool"] == "compute_loss"
    assert record.lint == {"ok": True, "problems": []}
    assert out["last"]["repairs"] == 1


def test_twice_invalid_ends_as_a_rejected_record(tmp_path, outcome_logs, no_compute_loss):
    proposer, model = scripted(
        hyp("A bigger tower."),
        delta(op("replace", "/architecture/tower_width", "[256]")),
        # The linter refuses this one: the Architecture persona does not own /training.
        delta(op("replace", "/training/batch_size", "2048")),
    )
    ctx = make_ctx(tmp_path, outcome_logs, persona="architecture", proposer=proposer, max_repairs=1)
    out = run_offline(ctx, thread_id="reject")

    (record,) = Journal(ctx.journal_path).records()
    assert record.status is Status.REJECTED
    assert "outside /architecture" in record.error
    assert record.lint["ok"] is False
    assert record.proxy_result is None
    assert "tower_width" in model.prompts[2]  # the first error was shown before the retry
    assert no_compute_loss == []
    assert out["last"]["status"] == "REJECTED" and out["last"]["tool"] is None
    events = [e["to_status"] for e in Journal(ctx.journal_path).events(record.id) if e["to_status"]]
    assert events == ["DRAFT", "REJECTED"]


def test_an_unparsable_answer_counts_as_an_error_to_repair(tmp_path, outcome_logs):
    proposer, model = scripted(
        ValueError("model returned prose"),
        hyp("Likes track satisfaction better than clicks."),
        LIKE_LABEL,
    )
    ctx = make_ctx(tmp_path, outcome_logs, persona="reward", proposer=proposer)
    out = run_offline(ctx, thread_id="parse")
    assert "model returned prose" in model.prompts[1]
    assert out["last"]["status"] in ("PROXY_BETTER", "PROPOSED", "PROXY_WORSE")


# ------------------------------------------------------------------- the reward persona


def test_reward_goes_through_sql_label_correlation_not_compute_loss(
    tmp_path, outcome_logs, no_compute_loss, monkeypatch
):
    import evorec.tools.data as data_tools

    seen: list[str] = []
    real = data_tools.label_correlation

    def spy(db_path: Any, label: str, **kwargs: Any) -> Any:
        seen.append(label)
        return real(db_path, label, **kwargs)

    monkeypatch.setattr(data_tools, "label_correlation", spy)
    proposer, _ = scripted(hyp("An explicit like is a purer satisfaction signal."), LIKE_LABEL)
    ctx = make_ctx(tmp_path, outcome_logs, persona="reward", proposer=proposer)
    out = run_offline(ctx, thread_id="reward")

    assert no_compute_loss == []
    # The candidate's label, then production's (click) as the bar to clear.
    assert len(seen) == 2 and "liked" in seen[0] and "click" in seen[1]
    (record,) = Journal(ctx.journal_path).records()
    proxy = record.proxy_result
    assert proxy["tool"] == "label_correlation"
    corr = proxy["correlation"]
    assert proxy["improvement"] == pytest.approx(corr["label"]["r"] - corr["production"]["r"])
    assert corr["production"]["r"] == pytest.approx(corr["click"]["r"])  # production = click
    # The fixture's activity follows the like rate: the like label beats click, CI above 0.
    assert corr["label_vs_click"]["ci95"][0] > 0
    assert proxy["better"] is True
    assert record.status is Status.PROPOSED  # promoted to the online queue
    assert out["promoted"] == [record.id]


def test_a_label_equal_to_productions_on_the_data_is_repaired(
    tmp_path, outcome_logs, no_compute_loss
):
    # 2 x click under the bce clamp trains on exactly the click targets: verify refuses it
    # (checked on the logged impressions) and the model is shown why.
    proposer, model = scripted(
        hyp("Weigh clicks twice as much."),
        delta(op("replace", "/reward/terms/0/weight", "2.0")),
        LIKE_LABEL,
    )
    ctx = make_ctx(tmp_path, outcome_logs, persona="reward", proposer=proposer)
    run_offline(ctx, thread_id="same-label")
    assert "exactly production's label" in model.prompts[2]
    (record,) = Journal(ctx.journal_path).records()
    assert record.delta == [{"op": "replace", "path": "/reward/terms/0/signal", "value": "like"}]


def test_builtin_reward_persona_never_calls_compute_loss(tmp_path, outcome_logs, no_compute_loss):
    ctx = make_ctx(tmp_path, outcome_logs, persona="reward", budget=3)
    run_offline(ctx, thread_id="builtin-reward")
    records = Journal(ctx.journal_path).records()
    assert len(records) == 3
    assert {r.proxy_result["tool"] for r in records if r.proxy_result} == {"label_correlation"}
    assert no_compute_loss == []


def test_label_sql_matches_the_rankers_label(outcome_logs):
    import duckdb

    from evorec.delta import apply_delta
    from evorec.ranker import compose_label

    phi = apply_delta(
        baseline_phi(),
        [
            {
                "op": "replace",
                "path": "/reward",
                "value": {
                    "loss": "mse",
                    "terms": [
                        {"signal": "click", "weight": 0.5},
                        {"signal": "watch_time", "weight": 0.2, "transform": "log1p"},
                        {"signal": "completion", "weight": 1.0, "transform": "clip", "param": 0.7},
                        {"signal": "like", "weight": 2.0},
                        {"signal": "dismiss", "weight": -1.0},
                        {
                            "signal": "survey",
                            "weight": 0.3,
                            "transform": "threshold",
                            "param": 4.0,
                            "fill_missing": 3.0,
                        },
                    ],
                },
            }
        ],
    )
    con = duckdb.connect(str(outcome_logs), read_only=True)
    try:
        cols = con.execute(
            f"SELECT click, watch_time, completion, liked, dismiss, survey, {label_sql(phi)} AS y "
            "FROM impressions"
        ).fetchnumpy()
    finally:
        con.close()
    signals = {
        name: np.ma.filled(np.ma.asarray(cols[col], dtype=float), np.nan)
        for name, col in (
            ("click", "click"),
            ("watch_time", "watch_time"),
            ("completion", "completion"),
            ("like", "liked"),
            ("dismiss", "dismiss"),
            ("survey", "survey"),
        )
    }
    assert np.isnan(signals["survey"]).any()  # the NULL path is exercised
    expected = compose_label(phi.reward, signals)
    np.testing.assert_allclose(cols["y"], expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------- prompts, history, promotion


def _seed_journal(path: str) -> list[str]:
    """Three finished reward experiments with known improvements, in creation order."""
    journal = Journal(path)
    ids = []
    for weight, improvement in ((0.5, 0.01), (0.7, 0.05), (0.9, -0.02)):
        rec = journal.create(
            surface="home_feed",
            author="human",
            persona="reward",
            parent_phi_hash=baseline_phi().content_hash(),
            delta=[{"op": "replace", "path": "/reward/terms/0/weight", "value": weight}],
            hypothesis=f"weight {weight}",
        )
        journal.set_proxy_result(rec.id, {"improvement": improvement})
        journal.transition(rec.id, Status.PROXY_BETTER if improvement > 0 else Status.PROXY_WORSE)
        ids.append(rec.id)
    return ids


@pytest.mark.parametrize("mode", ["sorted", "topk", "unsorted", "none"])
def test_prompt_sections_and_history_order(tmp_path, outcome_logs, mode):
    ctx_journal = str(tmp_path / "journal.duckdb")
    first, second, third = _seed_journal(ctx_journal)
    proposer, model = scripted(hyp("Likes over clicks."), LIKE_LABEL)
    ctx = make_ctx(
        tmp_path,
        outcome_logs,
        persona="reward",
        proposer=proposer,
        history_mode=mode,
        top_k=2,
        steering="Prefer labels built on explicit feedback.",
        promote=False,
    )
    run_offline(ctx, thread_id=f"prompt-{mode}")
    prompt = model.prompts[0]
    titles = [
        "# Role",
        "# Primary objectives",
        "# Steering",
        "# Guardrails",
        "# Baseline Φ",
        "# Experiment journal",
        "# Your answer",
        "# This step",
    ]
    positions = [prompt.index(t) for t in titles]
    assert positions == sorted(positions)
    assert "Prefer labels built on explicit feedback." in prompt
    shown = [i for i in (first, second, third) if i in prompt]
    expected = {
        "sorted": [second, first, third],
        "topk": [second, first],
        "unsorted": [first, second, third],
        "none": [],
    }[mode]
    assert sorted(shown, key=prompt.index) == expected
    # The code step's prompt carries the hypothesis from the think step.
    assert "Likes over clicks." in model.prompts[1]


def test_no_promote_and_max_promotions(tmp_path, outcome_logs):
    proposer, _ = scripted(
        hyp("likes"),
        LIKE_LABEL,
        hyp("likes, mse"),
        delta(
            op("replace", "/reward/terms/0/signal", '"like"'),
            op("replace", "/reward/loss", '"mse"'),
        ),
    )
    ctx = make_ctx(
        tmp_path, outcome_logs, persona="reward", budget=2, proposer=proposer, max_promotions=1
    )
    out = run_offline(ctx, thread_id="promo")
    statuses = [r.status for r in Journal(ctx.journal_path).records()]
    assert statuses == [Status.PROPOSED, Status.PROXY_BETTER]
    assert out["promoted"] == out["experiments"][:1]
    assert out["summary"]["promoted"] == out["promoted"]
    assert out["summary"]["best"]["improvement"] > 0

    proposer, _ = scripted(hyp("likes"), LIKE_LABEL)
    ctx = make_ctx(
        tmp_path / "np", outcome_logs, persona="reward", proposer=proposer, promote=False
    )
    out = run_offline(ctx, thread_id="no-promo")
    assert [r.status for r in Journal(ctx.journal_path).records()] == [Status.PROXY_BETTER]
    assert out["promoted"] == []


def test_persona_all_rotates_and_the_budget_counts_proposals(tmp_path, outcome_logs):
    ctx = make_ctx(tmp_path, outcome_logs, persona="all", budget=3)
    lines: list[dict[str, Any]] = []
    out = run_offline(ctx, thread_id="all", on_iteration=lines.append)
    records = Journal(ctx.journal_path).records()
    assert [r.persona for r in records] == ["optimizer", "architecture", "reward"]
    assert [r.id for r in records] == out["experiments"]
    assert [line["experiment_id"] for line in lines] == out["experiments"]
    tools = [r.proxy_result["tool"] for r in records if r.proxy_result]
    assert tools == ["compute_loss", "compute_loss", "label_correlation"][: len(tools)]


# --------------------------------------------------------------------------- resume


class _Crash(RuntimeError):
    pass


@pytest.mark.parametrize("where", ["tool", "journal"])
def test_resume_after_interruption_gives_exactly_the_budget(
    tmp_path, outcome_logs, monkeypatch, where
):
    """Crash once in the third iteration (before the journal write, or after it but before
    the checkpoint), resume the same thread: 4 records, no duplicates."""
    real = getattr(offline_nodes, where)
    calls = {"n": 0}

    def crashing(state: Any, runtime: Any) -> Any:
        calls["n"] += 1
        out = real(state, runtime) if where == "journal" else None
        if calls["n"] == 3:
            raise _Crash(f"killed in {where}")
        return out if where == "journal" else real(state, runtime)

    ctx = make_ctx(tmp_path, outcome_logs, persona="reward", budget=4)
    monkeypatch.setattr(offline_nodes, where, crashing)
    with pytest.raises(_Crash):
        run_offline(ctx, thread_id="resume")
    done = Journal(ctx.journal_path).records()
    assert len(done) == (3 if where == "journal" else 2)

    monkeypatch.setattr(offline_nodes, where, real)
    offline_nodes._PROPOSERS.clear()  # as in a fresh process
    out = run_offline(ctx, thread_id="resume")
    records = Journal(ctx.journal_path).records()
    assert len(records) == 4
    assert [r.id for r in records] == out["experiments"]
    assert len({r.id for r in records}) == 4
    assert all(r.status is not Status.DRAFT for r in records)
    proxy_events = [e for e in Journal(ctx.journal_path).events() if e["kind"] == "proxy_result"]
    assert len(proxy_events) == 4


def test_a_finished_thread_continues_to_a_larger_budget(tmp_path, outcome_logs):
    ctx = make_ctx(tmp_path, outcome_logs, persona="reward", budget=1)
    run_offline(ctx, thread_id="grow")
    again = run_offline(ctx, thread_id="grow")
    assert len(again["experiments"]) == 1
    ctx.budget = 2
    more = run_offline(ctx, thread_id="grow")
    assert len(more["experiments"]) == 2
    assert len(Journal(ctx.journal_path).records()) == 2


# ------------------------------------------------------------------ end to end (slow)


@pytest.mark.slow
def test_builtin_finds_a_proxy_improvement_on_a_simulated_surface(tmp_path, simulated_logs):
    ctx = make_ctx(
        tmp_path,
        simulated_logs,
        persona="optimizer",
        budget=8,
        proxy_seeds=(0, 1, 2),
        proxy_budget=50,
    )
    out = run_offline(ctx, thread_id="e2e")
    records = Journal(ctx.journal_path).records()
    assert len(records) == 8
    winners = [r for r in records if r.status in (Status.PROXY_BETTER, Status.PROPOSED)]
    assert winners, Journal(ctx.journal_path).render_history("sorted")
    for w in winners:
        comparison = w.proxy_result["proxy"]["comparison"]
        assert comparison["better"] and w.improvement > 0
    assert out["summary"]["best"]["improvement"] > 0
    assert set(out["promoted"]) <= {w.id for w in winners}


# ------------------------------------------------------------ LLM linter, other back-ends


def test_the_linter_persona_can_refuse_and_its_problem_is_repaired(tmp_path, outcome_logs):
    from evorec.graphs.offline_nodes import LintAnswer

    proposer, model = scripted(
        hyp("Likes over clicks."),
        LIKE_LABEL,
        LintAnswer(ok=False, problems=["the like label ignores dismissals"]),
        LIKE_LABEL,
        LintAnswer(ok=True, problems=[]),
    )
    ctx = make_ctx(tmp_path, outcome_logs, persona="reward", proposer=proposer, llm_linter=True)
    out = run_offline(ctx, thread_id="llm-lint")
    assert "# Delta under review" in model.prompts[2]
    assert "the like label ignores dismissals" in model.prompts[3]  # shown on repair
    (record,) = Journal(ctx.journal_path).records()
    assert record.lint["ok"] is True and "linter persona" in record.lint["by"]
    assert out["last"]["repairs"] == 1


@pytest.mark.parametrize("model", ["random", "optuna"])
def test_baseline_back_ends_run_through_the_graph(tmp_path, outcome_logs, model):
    ctx = make_ctx(tmp_path, outcome_logs, persona="reward", budget=2, model=model)
    out = run_offline(ctx, thread_id=f"backend-{model}")
    records = Journal(ctx.journal_path).records()
    assert [r.id for r in records] == out["experiments"]
    assert {r.author for r in records} == {model}
    assert all(r.proxy_result and r.proxy_result["tool"] == "label_correlation" for r in records)


@pytest.mark.slow
def test_a_killed_process_resumes_on_its_thread_without_duplicates(tmp_path, outcome_logs):
    """SIGKILL (the ``offline_journal`` crash point) right after the second iteration's
    journal write, before its checkpoint; the same command again finishes the budget with
    exactly one record per proposal."""
    import os
    import signal
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "evorec.cli",
        "offline",
        "--persona",
        "reward",
        "--budget",
        "4",
        "--data",
        str(outcome_logs),
        "--journal",
        str(tmp_path / "journal.duckdb"),
        "--workdir",
        str(tmp_path / "runs"),
        "--thread",
        "killed",
    ]
    env = {
        **os.environ,
        "EVOREC_CRASH_AT": "offline_journal:2",
        "EVOREC_CRASH_MARKER": str(tmp_path / "crashed"),
    }
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert len(Journal(tmp_path / "journal.duckdb").records()) == 2

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    records = Journal(tmp_path / "journal.duckdb").records()
    assert len(records) == 4 == len({r.id for r in records})
    assert all(r.status is not Status.DRAFT for r in records)
    assert "4/4 proposals" in second.stdout
