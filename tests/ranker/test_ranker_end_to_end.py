"""End to end: simulate logs, train the baseline Φ, serve it in an A/B against random."""

from __future__ import annotations

import pytest

from evorec.ranker.artifact import export_artifact, load_artifact
from evorec.ranker.data import load_logged_data
from evorec.ranker.schema import baseline_phi
from evorec.ranker.serving import RankerPolicy
from evorec.ranker.training import train


@pytest.mark.slow
def test_trained_baseline_beats_random_on_clicks(tmp_path):
    from evorec.simulator.ab import run_ab
    from evorec.simulator.logs import simulate
    from evorec.simulator.policies import RandomPolicy

    logs = tmp_path / "logs.duckdb"
    simulate("home_feed", 800, 3, 0, logs)
    data = load_logged_data(logs)
    result = train(baseline_phi(), data)
    assert result.metrics["click_auc"] > 0.55
    policy = RankerPolicy(load_artifact(export_artifact(result, baseline_phi(), tmp_path / "m")))

    ab = run_ab(
        control=RandomPolicy(),
        treatment=policy,
        surface="home_feed",
        users=1500,
        days=3,
        traffic_fraction=0.5,
        seed=5,  # a different world seed from the logs: new users, same surface
    )
    clicks = ab.metrics["clicks"]
    assert clicks.treatment_mean > clicks.control_mean
    assert clicks.rel_lift > 0.1 and clicks.p_value < 0.01, clicks.to_dict()
