"""A small campaign built through the real APIs: Journal, ProductionRegistry, A/B statistics.

The A/B read-outs are real :class:`~evorec.simulator.ab.ABResult` objects computed by the
simulator's statistics (``readout``, ``srm_check``) on synthetic per-user values, judged by the
online loop's own launch rule and packed into the online result exactly as the online graph
writes it. Nothing is hand-written into a database file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from evorec.delta import apply_delta
from evorec.journal import Journal, Status
from evorec.production import ProductionRegistry

SCRIPT_HYPOTHESIS = "<script>alert('x')</script> & a smaller learning rate | steadier"

#: Path of statuses from DRAFT to a launch decision.
_ONLINE_PATH = (
    Status.PROXY_BETTER,
    Status.PROPOSED,
    Status.VALIDATED,
    Status.TRAINING,
    Status.TRAINED,
    Status.LIVE,
)


def ab_result(shift: float, *, seed: int, users: int = 1500, aborted: bool = False):
    """A real A/B read-out: treatment active days shifted by ``shift`` (relative)."""
    from evorec.simulator.ab import ABResult
    from evorec.simulator.stats import readout, srm_check

    rng = np.random.default_rng(seed)
    nc = users // 2
    nt = users - nc
    config = {
        "surface": "home_feed",
        "users": users,
        "days": 6,
        "traffic_fraction": 0.5,
        "seed": seed,
        "control": "production",
        "treatment": "candidate",
    }
    srm = srm_check(nc, nt, 0.5)
    if aborted:
        return ABResult(
            config,
            complete=False,
            aborted=True,
            abort_reason="daily_active_rate dropped 14% (max 10%) on day 2",
            days_run=2,
            srm=srm,
        )
    metrics = {}
    base = {"active_days": 3.0, "time_spent": 600.0, "satisfaction": 0.4, "clicks": 5.0}
    for name, mean in base.items():
        pre_c = rng.gamma(4.0, mean / 4.0, nc)
        pre_t = rng.gamma(4.0, mean / 4.0, nt)
        c = 0.7 * pre_c + rng.gamma(4.0, 0.3 * mean / 4.0, nc)
        t = 0.7 * pre_t + rng.gamma(4.0, 0.3 * mean / 4.0, nt)
        if name in ("active_days", "time_spent"):
            t = t * (1.0 + shift)
        metrics[name] = readout(name, c, t, pre_c, pre_t)
    return ABResult(
        config,
        complete=True,
        aborted=False,
        abort_reason=None,
        days_run=6,
        srm=srm,
        metrics=metrics,
    )


def online_result(exp_id: str, result, status: Status, control_hash: str) -> dict:
    """The online result the online graph journals (``complete`` / ``abort`` nodes)."""
    from evorec.graphs.online_nodes import _outcome, decide_launch

    data = result.to_dict()
    if result.aborted:
        decision = {"launch": False, "reasons": [f"guardrail breach: {result.abort_reason}"]}
        decision["summary"] = "aborted: " + decision["reasons"][0]
    else:
        decision = decide_launch(data)
    state = {
        "experiment_id": exp_id,
        "day": data["days_run"],
        "artifact": f"artifacts/{exp_id}",
        "control_phi_hash": control_hash,
    }
    return _outcome(state, data, decision, status.value)


@dataclass
class Campaign:
    journal_path: Path
    workdir: Path
    ids: dict[str, str]
    """role -> experiment id."""
    launch_lifts: list[float]
    script_hypothesis: str = SCRIPT_HYPOTHESIS


def _walk(journal: Journal, exp_id: str, statuses) -> None:
    for status in statuses:
        journal.transition(exp_id, status)


def _propose(journal, persona, delta, hypothesis, parent, improvement, author="builtin"):
    rec = journal.create(
        surface="home_feed",
        author=author,
        persona=persona,
        parent_phi_hash=parent,
        delta=delta,
        hypothesis=hypothesis,
        lint={"ok": True, "problems": []},
    )
    if improvement is not None:
        journal.set_proxy_result(
            rec.id, {"improvement": improvement, "baseline_loss": 0.5, "loss": 0.5 - improvement}
        )
    return rec.id


def build_campaign(root: Path) -> Campaign:
    """Launched ×2, not launched (one with undefined lifts), aborted, rejected, proxy-worse,
    proxy-better only, a human submission that failed in training."""
    workdir = root / "work"
    journal = Journal(root / "journal.duckdb")
    registry = ProductionRegistry(workdir / "production.json")
    start = registry.initialise()
    ids: dict[str, str] = {}
    lifts: list[float] = []

    def online(role, persona, delta, hypothesis, improvement, shift, seed, *, aborted=False):
        prod = registry.current()
        exp_id = _propose(journal, persona, delta, hypothesis, prod.phi_hash, improvement)
        ids[role] = exp_id
        _walk(journal, exp_id, _ONLINE_PATH)
        result = ab_result(shift, seed=seed, aborted=aborted)
        if aborted:
            status = Status.ABORTED
        else:
            status = Status.LAUNCHED if decide(result) else Status.NOT_LAUNCHED
        outcome = online_result(exp_id, result, status, prod.phi_hash)
        journal.set_online_result(exp_id, outcome)
        if status is Status.LAUNCHED:
            candidate = apply_delta(prod.load_phi(), delta)
            registry.launch(
                candidate, f"artifacts/{exp_id}", exp_id, note=outcome["decision"]["summary"]
            )
            lifts.append(outcome["ab"]["metrics"]["active_days"]["rel_lift"])
        journal.transition(exp_id, status, note=outcome["decision"]["summary"])
        return status

    def decide(result) -> bool:
        from evorec.graphs.online_nodes import decide_launch

        return decide_launch(result.to_dict())["launch"]

    assert (
        online(
            "launch1",
            "optimizer",
            [{"op": "replace", "path": "/optimizer/algorithm", "value": "adam"}],
            "Adam adapts per-parameter steps",
            0.03,
            0.12,
            seed=1,
        )
        is Status.LAUNCHED
    )
    assert (
        online(
            "flat",
            "architecture",
            [{"op": "replace", "path": "/architecture/embedding_dim", "value": 32}],
            "wider embeddings capture more topics",
            0.01,
            0.0,
            seed=2,
        )
        is Status.NOT_LAUNCHED
    )
    assert (
        online(
            "aborted",
            "reward",
            [
                {
                    "op": "add",
                    "path": "/reward/terms/-",
                    "value": {"signal": "watch_time", "weight": 0.5, "transform": "log1p"},
                }
            ],
            "reward watch time as well",
            0.2,
            0.0,
            seed=3,
            aborted=True,
        )
        is Status.ABORTED
    )
    assert (
        online(
            "launch2",
            "architecture",
            [{"op": "replace", "path": "/architecture/tower_widths", "value": [128, 64]}],
            "a wider tower",
            0.02,
            0.08,
            seed=4,
        )
        is Status.LAUNCHED
    )

    # An A/B whose arms were too small for a read-out: every lift undefined (None).
    prod = registry.current()
    ids["undefined"] = _propose(
        journal,
        "optimizer",
        [{"op": "replace", "path": "/optimizer/weight_decay", "value": 0.01}],
        "a little weight decay",
        prod.phi_hash,
        0.001,
    )
    _walk(journal, ids["undefined"], _ONLINE_PATH)
    tiny = ab_result(0.0, seed=5, users=3).to_dict()
    assert tiny["metrics"]["active_days"]["rel_lift"] is None
    tiny.pop("daily")
    journal.set_online_result(
        ids["undefined"],
        {
            "experiment_id": ids["undefined"],
            "status": "NOT_LAUNCHED",
            "decision": {
                "launch": False,
                "reasons": ["no read-out"],
                "summary": "no launch: no read-out",
            },
            "ab": tiny,
            "days": 6,
            "artifact": None,
        },
    )
    journal.transition(ids["undefined"], Status.NOT_LAUNCHED)

    # Offline-only outcomes.
    ids["rejected"] = journal.create(
        surface="home_feed",
        author="builtin",
        persona="optimizer",
        parent_phi_hash=start.phi_hash,
        delta=[{"op": "replace", "path": "/optimizer/learning_rate", "value": -1}],
        hypothesis=SCRIPT_HYPOTHESIS,
        status=Status.REJECTED,
        lint={"ok": False, "problems": ["learning_rate must be > 0"]},
    ).id
    ids["worse"] = _propose(
        journal,
        "architecture",
        [{"op": "replace", "path": "/architecture/dropout", "value": 0.5}],
        "heavy dropout regularises",
        start.phi_hash,
        -0.01,
    )
    journal.transition(ids["worse"], Status.PROXY_WORSE)
    ids["proxy_only"] = _propose(
        journal,
        "reward",
        [{"op": "replace", "path": "/reward/loss", "value": "mse"}],
        "mse on the reward",
        start.phi_hash,
        0.05,
    )
    journal.transition(ids["proxy_only"], Status.PROXY_BETTER)

    # A human submission that failed in training.
    human = journal.create(
        surface="home_feed",
        author="alice",
        parent_phi_hash=start.phi_hash,
        delta=[{"op": "replace", "path": "/training/batch_size", "value": 64}],
        hypothesis="small batches generalise",
        status=Status.PROPOSED,
    )
    ids["human_failed"] = human.id
    journal.transition(human.id, Status.VALIDATED)
    journal.transition(human.id, Status.TRAINING)
    journal.set_online_result(
        human.id,
        {
            "experiment_id": human.id,
            "status": "FAILED",
            "phase": "training",
            "error": "training: TrainingDiverged: loss nan at step 3",
        },
    )
    journal.transition(human.id, Status.FAILED, error="training: TrainingDiverged: loss nan")
    return Campaign(root / "journal.duckdb", workdir, ids, lifts)


@pytest.fixture(scope="session")
def campaign(tmp_path_factory) -> Campaign:
    return build_campaign(tmp_path_factory.mktemp("campaign"))


@pytest.fixture(scope="session")
def report(campaign, tmp_path_factory):
    from evorec.report import write_report

    out = tmp_path_factory.mktemp("report")
    return write_report(campaign.journal_path, campaign.workdir, out)
