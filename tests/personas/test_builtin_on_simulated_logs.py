"""End to end on a small simulated surface: the built-in proposer, with the journal as its
memory, finds a significant proxy improvement over the production baseline."""

from __future__ import annotations

import pytest

from evorec.delta import apply_delta
from evorec.errors import EvorecError
from evorec.journal import Journal, Status
from evorec.proposers import BuiltinProposer
from evorec.ranker.schema import baseline_phi


@pytest.mark.slow
def test_builtin_finds_a_proxy_improvement(tmp_path):
    from evorec.ranker.data import load_logged_data
    from evorec.ranker.proxy import compute_loss
    from evorec.simulator.logs import simulate

    simulate("home_feed", 300, 2, 0, tmp_path / "logs.duckdb")
    data = load_logged_data(tmp_path / "logs.duckdb")
    phi = baseline_phi()
    base = compute_loss(phi, data, budget=50, seeds=(0, 1))
    journal = Journal(tmp_path / "journal.duckdb")
    proposer = BuiltinProposer(seed=0)
    for _ in range(12):
        p = proposer.propose("optimizer", baseline_phi=phi, journal=journal)
        rec = journal.create(
            surface="home_feed",
            author="builtin",
            persona="optimizer",
            parent_phi_hash=phi.content_hash(),
            delta=p.delta,
            hypothesis=p.hypothesis,
        )
        try:
            result = compute_loss(
                apply_delta(phi, p.delta), data, budget=50, seeds=(0, 1), baseline=base
            )
        except EvorecError as exc:
            journal.transition(rec.id, Status.FAILED, error=str(exc))
            continue
        cmp = result.comparison
        journal.set_proxy_result(
            rec.id, {"improvement": -cmp["loss_delta"], "better": cmp["better"]}
        )
        journal.transition(rec.id, Status.PROXY_BETTER if cmp["better"] else Status.PROXY_WORSE)
    winners = journal.records(status=Status.PROXY_BETTER)
    assert winners, journal.render_history("sorted")
    assert all(w.improvement > 0 for w in winners)
    assert len({str(r.delta) for r in journal.records()}) == 12  # nothing repeated
