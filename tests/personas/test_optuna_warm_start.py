"""OptunaProposer warm-starts its per-persona TPE study from the Experiment Journal."""

from __future__ import annotations

import pytest

from evorec.delta import apply_delta
from evorec.journal import Journal, Status, delta_key
from evorec.personas import PROPOSERS
from evorec.personas.catalog import Persona
from evorec.proposers import OptunaProposer, RandomProposer
from evorec.ranker.schema import baseline_phi

BASELINE_LOSS = 0.52


def _compute_loss_result(loss: float, *, better: bool) -> dict:
    """A proxy result as the offline graph's journal node writes it for compute_loss."""
    return {
        "tool": "compute_loss",
        "better": better,
        "improvement": BASELINE_LOSS - loss,
        "loss": loss,
        "baseline_loss": BASELINE_LOSS,
        "p_value": 0.01 if better else 0.4,
        "significant": better,
        "reason": f"loss {loss:.6g} vs production {BASELINE_LOSS:.6g}",
        "proxy": {"loss": {"mean": loss, "std": 0.003}, "comparison": {"better": better}},
        "seeds": [0, 1],
        "error": None,
    }


def _journal(journal, persona, phi, delta, *, author="optuna", result=None, status=None):
    rec = journal.create(
        surface="home_feed",
        author=author,
        persona=persona.value,
        parent_phi_hash=phi.content_hash(),
        delta=delta,
        hypothesis="a journaled proposal",
        status=Status.REJECTED if status is Status.REJECTED else Status.DRAFT,
    )
    if result is not None:
        rec = journal.set_proxy_result(rec.id, result)
    if status not in (None, Status.REJECTED):
        rec = journal.transition(rec.id, status)
    return rec


def _optimizer_history(journal, phi, n):
    """``n`` optimizer experiments proposed by an earlier Optuna run, judged by compute_loss."""
    earlier = OptunaProposer(seed=7)
    records = []
    for i in range(n):
        p = earlier.propose("optimizer", baseline_phi=phi)
        loss = 0.50 + 0.01 * i
        result = _compute_loss_result(loss, better=loss < 0.515)
        status = Status.PROXY_BETTER if result["better"] else Status.PROXY_WORSE
        records.append(
            _journal(journal, Persona.OPTIMIZER, phi, p.delta, result=result, status=status)
        )
    return earlier, records


def _from_journal(study):
    return [t for t in study.trials if t.user_attrs.get("source") == "journal"]


def test_a_fresh_proposer_rebuilds_the_study_from_the_journal(tmp_path):
    phi = baseline_phi()
    journal = Journal(tmp_path / "j.duckdb")
    n = 6
    earlier, records = _optimizer_history(journal, phi, n)
    # Noise the warm start must leave out.
    other = RandomProposer(seed=3).propose("reward", baseline_phi=phi)
    _journal(
        journal,
        Persona.REWARD,
        phi,
        other.delta,
        result={"improvement": 0.02},
        status=Status.PROXY_BETTER,
    )
    _journal(
        journal,
        Persona.OPTIMIZER,
        phi,
        [{"op": "replace", "path": "/optimizer/beta1", "value": 0.8}],
        result=_compute_loss_result(0.49, better=True),
        status=Status.PROXY_BETTER,
    )  # beta1 is not in the search space
    _journal(
        journal,
        Persona.OPTIMIZER,
        phi,
        [{"op": "replace", "path": "/optimizer/learning_rate", "value": 0.9}],
        result=_compute_loss_result(0.6, better=False),
        status=Status.PROXY_WORSE,
    )  # outside the learning-rate range
    _journal(
        journal,
        Persona.OPTIMIZER,
        phi,
        [{"op": "replace", "path": "/optimizer/momentum", "value": 2.0}],
        status=Status.REJECTED,
    )
    failed = _journal(
        journal,
        Persona.OPTIMIZER,
        phi,
        [{"op": "replace", "path": "/optimizer/warmup_steps", "value": 100}],
        result={"tool": "compute_loss", "error": "training diverged"},
        status=Status.FAILED,
    )
    draft = _journal(
        journal,
        Persona.OPTIMIZER,
        phi,
        [{"op": "replace", "path": "/optimizer/warmup_steps", "value": 200}],
    )

    proposer = OptunaProposer(seed=0)
    first = proposer.propose("optimizer", baseline_phi=phi, journal=journal)
    study = proposer._studies[Persona.OPTIMIZER]
    warm = _from_journal(study)
    assert first.meta["warm_started"] == n
    assert len(warm) == n == len([t for t in study.trials if t.state.name == "COMPLETE"])
    by_id = {t.user_attrs["experiment_id"]: t for t in warm}
    assert set(by_id) == {r.id for r in records}
    for r in records:
        trial = by_id[r.id]
        assert trial.value == pytest.approx(r.proxy_result["loss"])  # observe()'s convention
        # The trial's parameters rebuild the journaled configuration.
        assert trial.params["algorithm"] == apply_delta(phi, r.delta).optimizer.algorithm
        assert trial.params["learning_rate"] == pytest.approx(
            apply_delta(phi, r.delta).optimizer.learning_rate
        )
    assert study.best_value == pytest.approx(0.50)
    assert failed.id not in by_id and draft.id not in by_id

    # Second call: nothing added twice; our own proposal is told through observe only.
    second = proposer.propose("optimizer", baseline_phi=phi, journal=journal)
    assert second.meta["warm_started"] == 0 and len(_from_journal(study)) == n
    _journal(
        journal,
        Persona.OPTIMIZER,
        phi,
        first.delta,
        result=_compute_loss_result(0.48, better=True),
        status=Status.PROXY_BETTER,
    )
    proposer.observe(first, 0.48)
    # The draft gets its result later; someone else journals a new configuration.
    journal.set_proxy_result(draft.id, _compute_loss_result(0.51, better=True))
    journal.transition(draft.id, Status.PROXY_BETTER)
    newcomer = earlier.propose("optimizer", baseline_phi=phi)
    _journal(
        journal,
        Persona.OPTIMIZER,
        phi,
        newcomer.delta,
        author="builtin",
        result=_compute_loss_result(0.505, better=True),
        status=Status.PROXY_BETTER,
    )
    third = proposer.propose("optimizer", baseline_phi=phi, journal=journal)
    assert third.meta["warm_started"] == 2
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == n + 3  # n + observed + draft + newcomer
    assert len({t.user_attrs.get("experiment_id") for t in _from_journal(study)}) == n + 2
    assert study.best_value == pytest.approx(0.48)


def test_it_does_not_repropose_a_journaled_configuration(tmp_path):
    """A seeded TPE study replays its random start-up trials: the first configuration a
    fresh proposer would ask for is the one already in the journal, so it must skip it."""
    phi = baseline_phi()
    first = OptunaProposer(seed=0).propose("architecture", baseline_phi=phi)
    again = OptunaProposer(seed=0).propose("architecture", baseline_phi=phi)
    assert delta_key(again.delta) == delta_key(first.delta)  # same seed, same first trial

    journal = Journal(tmp_path / "j.duckdb")
    _journal(
        journal,
        Persona.ARCHITECTURE,
        phi,
        first.delta,
        result=_compute_loss_result(0.5, better=True),
        status=Status.PROXY_BETTER,
    )
    proposer = OptunaProposer(seed=0)
    fresh = proposer.propose("architecture", baseline_phi=phi, journal=journal)
    assert delta_key(fresh.delta) != delta_key(first.delta)
    assert fresh.meta["repeats_skipped"] >= 1
    study = proposer._studies[Persona.ARCHITECTURE]
    assert any(t.state.name == "FAIL" for t in study.trials)
    seen = {delta_key(first.delta), delta_key(fresh.delta)}
    for _ in range(10):  # nor repeats its own proposals
        p = proposer.propose("architecture", baseline_phi=phi, journal=journal)
        assert delta_key(p.delta) not in seen
        seen.add(delta_key(p.delta))


@pytest.mark.parametrize("persona", PROPOSERS)
def test_warm_started_proposals_stay_valid_and_in_section(tmp_path, persona):
    phi = baseline_phi()
    journal = Journal(tmp_path / "j.duckdb")
    earlier = OptunaProposer(seed=11)
    for i in range(10):
        p = earlier.propose(persona, baseline_phi=phi)
        if persona is Persona.REWARD:
            result = {
                "tool": "label_correlation",
                "better": i % 3 == 0,
                "improvement": 0.01 * (i % 5) - 0.02,
                "r_label": 0.1,
                "error": None,
            }
        else:
            result = _compute_loss_result(0.5 + 0.003 * (i % 7), better=i % 3 == 0)
        status = Status.PROXY_BETTER if result["better"] else Status.PROXY_WORSE
        _journal(journal, persona, phi, p.delta, result=result, status=status)

    proposer = OptunaProposer(seed=1)
    journaled = {delta_key(r.delta) for r in journal.records()}
    for i in range(5):
        p = proposer.propose(persona, baseline_phi=phi, journal=journal)
        apply_delta(phi, p.delta)  # applies and validates
        assert all(op["path"].startswith(f"/{persona.section}/") for op in p.delta)
        assert delta_key(p.delta) not in journaled
        proposer.observe(p, 0.5 - 0.001 * i)
    study = proposer._studies[persona]
    assert len(_from_journal(study)) == 10
    if persona is Persona.REWARD:  # -improvement, as observe is told for the correlation screen
        values = sorted(t.value for t in _from_journal(study))
        assert values[0] == pytest.approx(-0.02) and values[-1] == pytest.approx(0.02)
