"""Proposers: the built-in search heuristic, random search, Optuna TPE, and an LLM (faked)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from evorec.delta import apply_delta
from evorec.journal import ExperimentRecord, Journal, Status, delta_key
from evorec.personas import PROPOSERS, lint_delta
from evorec.proposers import (
    BuiltinProposer,
    OptunaProposer,
    ProposalError,
    RandomProposer,
)
from evorec.ranker.schema import baseline_phi


def _only_section(delta, section):
    return delta and all(op["path"].startswith(f"/{section}/") for op in delta)


def _seed_journal(journal, persona, phi, n=4):
    """A few prior experiments, so the proposer has something to avoid and build on."""
    records = []
    prior = RandomProposer(seed=99)
    for i in range(n):
        p = prior.propose(persona, baseline_phi=phi)
        rec = journal.create(
            surface="home_feed",
            author="random",
            persona=persona.value,
            parent_phi_hash=phi.content_hash(),
            delta=p.delta,
            hypothesis=p.hypothesis,
        )
        journal.set_proxy_result(rec.id, {"improvement": 0.01 * (i + 1) if i % 2 == 0 else -0.01})
        journal.transition(rec.id, Status.PROXY_BETTER if i % 2 == 0 else Status.PROXY_WORSE)
        records.append(journal.get(rec.id))
    return records


@pytest.mark.parametrize("persona", PROPOSERS)
def test_builtin_30_valid_new_proposals_per_persona(tmp_path, persona):
    phi = baseline_phi()
    journal = Journal(tmp_path / "j.duckdb")
    prior = _seed_journal(journal, persona, phi)
    records = list(prior)
    seen = {delta_key(r.delta) for r in records}
    proposer = BuiltinProposer(seed=1)
    built_on = 0
    for i in range(30):
        p = proposer.propose(persona, baseline_phi=phi, journal=records)
        after = apply_delta(phi, p.delta)  # applies and validates
        assert _only_section(p.delta, persona.section)
        assert lint_delta(persona, phi, after, p.delta).ok
        assert delta_key(p.delta) not in seen
        assert p.hypothesis and "LLM" not in p.hypothesis
        seen.add(delta_key(p.delta))
        built_on += bool(p.meta["parents"])
        # feed the outcome back, as the offline loop would (in memory: fast)
        records.append(
            replace(
                prior[0],
                id=f"mem-{i}",
                delta=p.delta,
                hypothesis=p.hypothesis,
                proxy_result={"improvement": -0.001},
                status=Status.PROXY_WORSE,
            )
        )
    assert built_on > 0  # it did build on the journal's winners


def test_builtin_reads_a_real_journal_and_is_deterministic(tmp_path):
    phi = baseline_phi()
    journal = Journal(tmp_path / "j.duckdb")
    prior = _seed_journal(journal, PROPOSERS[0], phi, n=2)
    a = BuiltinProposer(seed=3).propose("optimizer", baseline_phi=phi, journal=journal)
    b = BuiltinProposer(seed=3).propose("optimizer", baseline_phi=phi, journal=journal)
    assert a == b
    assert delta_key(a.delta) not in {delta_key(r.delta) for r in prior}


def test_builtin_exploits_winners_when_told_to():
    phi = baseline_phi()
    win = ExperimentRecord(
        id="exp-win",
        surface="s",
        author="a",
        persona="optimizer",
        parent_phi_hash="p",
        delta=[
            {"op": "replace", "path": "/optimizer/algorithm", "value": "rmsprop"},
            {"op": "replace", "path": "/optimizer/learning_rate", "value": 0.003},
        ],
        hypothesis="rmsprop",
        lint=None,
        proxy_result={"improvement": 0.2},
        online_result=None,
        status=Status.PROXY_BETTER,
        error=None,
        created_at="",
        updated_at="",
    )
    proposer = BuiltinProposer(seed=0, exploit=1.0)
    kept = 0
    for _ in range(5):
        p = proposer.propose("optimizer", baseline_phi=phi, journal=[win])
        assert p.meta["parents"] == ["exp-win"]
        assert "exp-win" in p.hypothesis
        assert delta_key(p.delta) != delta_key(win.delta)
        kept += apply_delta(phi, p.delta).optimizer.algorithm == "rmsprop"
    assert kept >= 3  # refinements keep the winner's change, unless an operator replaces it


@pytest.mark.parametrize("persona", PROPOSERS)
def test_random_and_optuna_emit_valid_section_deltas(persona):
    phi = baseline_phi()
    for proposer in (RandomProposer(seed=0), OptunaProposer(seed=0)):
        for i in range(8):
            p = proposer.propose(persona, baseline_phi=phi)
            apply_delta(phi, p.delta)
            assert _only_section(p.delta, persona.section)
            proposer.observe(p, 1.0 - 0.01 * i)


def test_optuna_tells_the_study_through_observe():
    proposer = OptunaProposer(seed=0)
    phi = baseline_phi()
    proposals = [proposer.propose("optimizer", baseline_phi=phi) for _ in range(3)]
    proposer.observe(proposals[0], 0.5)
    proposer.observe(proposals[1], None)  # failed
    proposer.observe(proposals[1], 0.1)  # already told: ignored
    study = proposer._studies[PROPOSERS[0]]
    states = sorted(
        t.state.name for t in study.trials if t.number in {p.meta["trial"] for p in proposals}
    )
    assert states == ["COMPLETE", "FAIL", "RUNNING"]
    assert study.best_value == 0.5


def test_the_linter_persona_does_not_propose():
    with pytest.raises(ProposalError, match="does not propose"):
        BuiltinProposer().propose("linter", baseline_phi=baseline_phi())
