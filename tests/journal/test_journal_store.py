"""The Experiment Journal: records, the status machine, the queue, history, warm start."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evorec.errors import ConfigError, EvorecError
from evorec.journal import (
    TERMINAL,
    TRANSITIONS,
    ExperimentRecord,
    IllegalTransition,
    Journal,
    JournalError,
    Status,
    UnknownExperiment,
    order_history,
)

ALGO = [{"op": "replace", "path": "/optimizer/algorithm", "value": "adam"}]


def make(journal: Journal, value="adam", **kw) -> ExperimentRecord:
    args = dict(
        surface="home_feed",
        author="builtin",
        persona="optimizer",
        parent_phi_hash="p0",
        delta=[{"op": "replace", "path": "/optimizer/algorithm", "value": value}],
        hypothesis=f"{value} adapts its step sizes",
    )
    args.update(kw)
    return journal.create(**args)


@pytest.fixture
def journal(tmp_path) -> Journal:
    return Journal(tmp_path / "journal.duckdb")


def test_create_and_get_round_trip(journal):
    rec = make(journal, lint={"ok": True, "problems": []})
    assert rec.id.startswith("exp-000001-")
    assert rec.status is Status.DRAFT
    again = journal.get(rec.id)
    assert again == rec
    assert again.delta == ALGO and again.lint == {"ok": True, "problems": []}
    assert make(journal, "rmsprop").id.startswith("exp-000002-")


def test_get_missing_is_a_keyerror_and_an_evorec_error(journal):
    with pytest.raises(UnknownExperiment) as info:
        journal.get("exp-999")
    assert isinstance(info.value, KeyError) and isinstance(info.value, EvorecError)
    assert "exp-999" in str(info.value)


def test_create_with_id_is_idempotent_and_refuses_other_content(journal):
    a = make(journal, experiment_id="exp-fixed")
    b = make(journal, experiment_id="exp-fixed")
    assert a == b and len(journal.records()) == 1
    with pytest.raises(JournalError, match="different delta"):
        make(journal, "sgd", experiment_id="exp-fixed")


def test_create_refuses_bad_input(journal):
    with pytest.raises(JournalError, match="starts as one of"):
        make(journal, status=Status.LIVE)
    with pytest.raises(JournalError, match="JSON array"):
        make(journal, delta={"op": "replace"})
    with pytest.raises(JournalError, match="hypothesis"):
        make(journal, hypothesis="  ")
    with pytest.raises(JournalError, match="unknown status"):
        make(journal, status="SHIPPED")


def test_full_lifecycle_and_event_history(journal):
    rec = make(journal)
    path = [
        Status.PROXY_BETTER,
        Status.PROPOSED,
        Status.VALIDATED,
        Status.TRAINING,
        Status.TRAINED,
        Status.LIVE,
        Status.LAUNCHED,
    ]
    for status in path:
        assert journal.transition(rec.id, status, note=f"to {status}").status is status
    events = [e for e in journal.events(rec.id) if e["kind"] in ("created", "status")]
    assert [e["to_status"] for e in events] == ["DRAFT", *[s.value for s in path]]
    # each event starts where the previous one ended: the history is complete
    for prev, nxt in zip(events[1:], events[2:], strict=False):
        assert nxt["from_status"] == prev["to_status"]
    assert events[-1]["note"] == "to LAUNCHED"


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([Status.PROXY_BETTER, Status.PROPOSED], Status.LIVE),
        (
            [
                Status.PROXY_BETTER,
                Status.PROPOSED,
                Status.VALIDATED,
                Status.TRAINING,
                Status.TRAINED,
                Status.LIVE,
                Status.LAUNCHED,
            ],
            Status.TRAINING,
        ),
        ([], Status.PROPOSED),  # promotion needs a proxy win first
        ([Status.PROXY_WORSE], Status.PROXY_BETTER),
    ],
)
def test_illegal_transitions_raise_and_change_nothing(journal, path, bad):
    rec = make(journal)
    for status in path:
        journal.transition(rec.id, status)
    before = journal.get(rec.id)
    n_events = len(journal.events(rec.id))
    with pytest.raises(IllegalTransition) as info:
        journal.transition(rec.id, bad)
    assert info.value.requested == bad.value and info.value.current == before.status.value
    assert journal.get(rec.id) == before
    assert len(journal.events(rec.id)) == n_events


def test_transition_graph_is_consistent():
    assert set(TRANSITIONS) == set(Status)
    assert {
        Status.REJECTED,
        Status.PROXY_WORSE,
        Status.ABORTED,
        Status.LAUNCHED,
        Status.NOT_LAUNCHED,
        Status.FAILED,
    } == TERMINAL
    for src, targets in TRANSITIONS.items():
        assert src not in targets


def test_same_status_transition_is_a_no_op(journal):
    rec = make(journal)
    journal.transition(rec.id, Status.FAILED, error="boom")
    n = len(journal.events(rec.id))
    again = journal.transition(rec.id, Status.FAILED, error="boom")
    assert again.status is Status.FAILED and again.error == "boom"
    assert len(journal.events(rec.id)) == n


def test_results_are_stored_and_kept_in_the_events(journal):
    rec = make(journal)
    journal.set_proxy_result(rec.id, {"improvement": 0.1})
    journal.set_proxy_result(rec.id, {"improvement": 0.2})
    journal.set_online_result(rec.id, {"decision": "launch"})
    journal.set_lint(rec.id, {"ok": False, "problems": ["x"]})
    got = journal.get(rec.id)
    assert got.proxy_result == {"improvement": 0.2} and got.improvement == 0.2
    assert got.online_result == {"decision": "launch"} and got.lint["ok"] is False
    payloads = [e["payload"] for e in journal.events(rec.id) if e["kind"] == "proxy_result"]
    assert payloads == [{"improvement": 0.1}, {"improvement": 0.2}]  # nothing overwritten
    with pytest.raises(UnknownExperiment):
        journal.set_proxy_result("nope", {"improvement": 1})
    with pytest.raises(JournalError, match="JSON object"):
        journal.set_online_result(rec.id, [1, 2])


def test_queue_is_fifo_by_promotion_and_resumes_in_flight_first(journal):
    a, b, c = make(journal, "adam"), make(journal, "rmsprop"), make(journal, "sgd")
    for rec in (c, a):  # promote c before a; b stays a draft
        journal.transition(rec.id, Status.PROXY_BETTER)
        journal.transition(rec.id, Status.PROPOSED)
    human = make(journal, "adamw", author="alice", persona=None, status=Status.PROPOSED)
    assert [r.id for r in journal.queue()] == [c.id, a.id, human.id]
    assert journal.next_in_queue().id == c.id
    journal.transition(a.id, Status.VALIDATED)  # a crash left `a` in flight
    assert journal.next_in_queue().id == a.id
    journal.transition(a.id, Status.FAILED, error="x")
    assert journal.next_in_queue().id == c.id
    assert journal.next_in_queue(surface="other") is None
    assert b.id not in [r.id for r in journal.queue()]


def test_records_filter_by_status_and_surface(journal):
    a = make(journal, "adam")
    make(journal, "sgd", surface="shorts")
    journal.transition(a.id, Status.REJECTED)
    assert [r.id for r in journal.records(status=Status.REJECTED)] == [a.id]
    assert [r.surface for r in journal.records(surface="shorts")] == ["shorts"]
    assert len(journal.records(status=["DRAFT", "REJECTED"])) == 2


def test_export_then_import_is_a_faithful_idempotent_warm_start(journal, tmp_path):
    a = make(journal, "adam")
    journal.set_proxy_result(a.id, {"improvement": 0.05})
    journal.transition(a.id, Status.PROXY_BETTER)
    b = make(journal, "sgd")
    journal.transition(b.id, Status.PROXY_WORSE)
    out = tmp_path / "prior.jsonl"
    assert journal.export(out) == 2
    assert all(json.loads(line)["events"] for line in out.read_text().splitlines())

    other = Journal(tmp_path / "other.duckdb")
    assert other.import_file(out) == 2
    assert other.import_file(out) == 0  # re-importing adds nothing
    assert [r.to_dict() for r in other.records()] == [r.to_dict() for r in journal.records()]
    history = [e["to_status"] for e in other.events(a.id) if e["kind"] == "status"]
    assert history == ["PROXY_BETTER"]


def test_import_a_hand_written_json_list(journal, tmp_path):
    prior = [
        {"delta": ALGO, "hypothesis": "adam", "proxy_result": {"improvement": 0.02}},
        {
            "delta": [{"op": "replace", "path": "/optimizer/learning_rate", "value": 5.0}],
            "hypothesis": "huge lr",
            "status": "PROXY_WORSE",
            "persona": "optimizer",
        },
    ]
    path = tmp_path / "prior.json"
    path.write_text(json.dumps(prior))
    assert journal.import_file(path) == 2
    assert journal.import_file(path) == 0
    statuses = {r.hypothesis: r.status for r in journal.records()}
    assert statuses == {"adam": Status.PROXY_BETTER, "huge lr": Status.PROXY_WORSE}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"hypothesis": "x"}', "missing 'delta'"),
        ('{"delta": [], "hypothesis": "x"}', "give a 'status'"),
        ('{"delta": [], "hypothesis": "x", "status": "NOPE"}', "unknown status"),
        ("not json", "line 1 is not valid JSON"),
        ("[1]", "must be a JSON object"),
    ],
)
def test_import_bad_files_say_where(journal, tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        journal.import_file(path)
    assert journal.records() == []
    with pytest.raises(ConfigError, match="not found"):
        journal.import_file(tmp_path / "missing.jsonl")


def test_render_history_modes(journal):
    for value, imp in (("adam", 0.01), ("sgd", -0.02), ("rmsprop", 0.05)):
        rec = make(journal, value)
        journal.set_proxy_result(rec.id, {"improvement": imp})
        journal.transition(rec.id, Status.PROXY_BETTER if imp > 0 else Status.PROXY_WORSE)
    make(journal, "adamw")  # a draft: not part of the history
    rej = make(journal, "adagrad", persona="reward")
    journal.transition(rej.id, Status.REJECTED, error="touched /optimizer")

    text = journal.render_history("sorted")
    order = [text.index(f'"{v}"') for v in ("rmsprop", "adam", "sgd")]
    assert order == sorted(order)
    assert "adamw" not in text
    assert "error: touched /optimizer" in text
    assert "PROXY_WORSE" in text and "hypothesis: rmsprop adapts" in text
    top = journal.render_history("topk", k=1)
    assert '"rmsprop"' in top and '"adam"' not in top
    assert journal.render_history("none") == ""
    unsorted = journal.render_history("unsorted")
    assert unsorted.index('"adam"') < unsorted.index('"sgd"') < unsorted.index('"rmsprop"')
    assert '"adagrad"' not in journal.render_history("sorted", persona="optimizer")
    with pytest.raises(ConfigError, match="history mode"):
        journal.render_history("best")


def test_render_history_of_an_empty_journal(journal):
    assert journal.render_history() == "(no experiments yet)"


def _record(i: int, imp: float | None) -> ExperimentRecord:
    return ExperimentRecord(
        id=f"exp-{i}",
        surface="s",
        author="a",
        persona="optimizer",
        parent_phi_hash="p",
        delta=[],
        hypothesis=str(i),
        lint=None,
        proxy_result=None if imp is None else {"improvement": imp},
        online_result=None,
        status=Status.PROXY_WORSE,
        error=None,
        created_at="",
        updated_at="",
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    imps=st.lists(st.none() | st.floats(-1e6, 1e6, allow_nan=False), max_size=30),
    k=st.integers(0, 40),
)
def test_history_order_properties(imps, k):
    records = [_record(i, imp) for i, imp in enumerate(imps)]
    ranked = order_history(records, "sorted")
    assert sorted(r.id for r in ranked) == sorted(r.id for r in records)
    known = [r.improvement for r in ranked if r.improvement is not None]
    assert known == sorted(known, reverse=True)  # non-increasing
    n_known = len(known)
    assert all(r.improvement is None for r in ranked[n_known:])  # unknown ones last
    assert order_history(records, "topk", k) == ranked[:k]  # a prefix of sorted
    assert order_history(records, "none") == []
    assert order_history(records, "unsorted") == records
