"""Bad graph settings are refused up front, with a message naming the setting, before anything
is trained, simulated or written; and the project's errors are the built-in exceptions they
mean (so LangGraph's server shows their messages to Studio and SDK clients)."""

from __future__ import annotations

import pytest

from evorec import errors
from evorec.graphs.offline_nodes import prepare as prepare_offline
from evorec.graphs.offline_state import OfflineContext
from evorec.graphs.online import run_online
from evorec.graphs.online_nodes import prepare as prepare_online
from evorec.graphs.online_state import OnlineContext
from evorec.graphs.rectune_nodes import prepare as prepare_rectune
from evorec.graphs.rectune_state import RecTuneContext
from evorec.journal import IllegalTransition, Journal, JournalError, Status, UnknownExperiment
from evorec.proposers import ProposalError

_INPUT = (
    errors.ConfigError,
    errors.InvalidDelta,
    errors.UnsafeQuery,
    errors.DataError,
    errors.ConstraintViolation,
    ProposalError,
)
_RUNNING = (
    errors.SimulationError,
    errors.TrainingDiverged,
    errors.ArtifactError,
    JournalError,
    IllegalTransition,
)


def test_bad_input_is_a_value_error_and_a_failed_run_a_runtime_error():
    for cls in _INPUT:
        assert issubclass(cls, errors.EvorecError) and issubclass(cls, ValueError), cls
    for cls in _RUNNING:
        assert issubclass(cls, errors.EvorecError) and issubclass(cls, RuntimeError), cls
    missing = UnknownExperiment("exp-1")
    assert isinstance(missing, KeyError) and isinstance(missing, JournalError)
    assert str(missing) == "no experiment 'exp-1' in the journal"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"users": -5}, "users must be an integer ≥ 2, not -5"),
        ({"users": 1}, "users must be an integer ≥ 2"),
        ({"users": "3000"}, "users must be an integer ≥ 2, not '3000'"),
        ({"days": 0}, "days must be a positive integer, not 0"),
        ({"days": True}, "days must be a positive integer, not True"),
        ({"traffic_fraction": 1.0}, r"traffic_fraction must be a number in \(0, 1\)"),
        ({"traffic_fraction": 0}, "traffic_fraction must be a number in"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"train_steps": 0}, "train_steps must be a positive integer or null"),
        ({"min_impressions": -1}, "min_impressions must be an integer ≥ 0"),
        ({"max_experiments": 0}, "max_experiments must be a positive integer or null"),
        ({"alpha": 2.0}, r"alpha must be a number in \(0, 0.5\]"),
        ({"alpha": float("nan")}, "alpha must be a number in"),
        ({"srm_injection": 1.0}, r"srm_injection must be a number in \[0, 1\)"),
        ({"approve_before_live": "yes"}, "approve_before_live must be true or false"),
        ({"guardrails": {"nope": 0.1}}, "unknown guardrail metric 'nope'"),
        ({"guardrails": {"daily_active_rate": 2.0}}, r"max_drop must lie in \(0, 1\]"),
        ({"guardrails": {"daily_active_rate": "0.1"}}, r"max_drop must lie in \(0, 1\]"),
        ({"guardrails": [0.1]}, "guardrails must map a daily metric"),
        ({"surface": "nope"}, "unknown surface 'nope'"),
    ],
)
def test_online_settings_are_checked(bad, message):
    with pytest.raises(errors.ConfigError, match=message):
        prepare_online(OnlineContext(**bad))


def test_a_bad_ab_setting_costs_nothing_and_loses_nothing(context):
    from _candidates import BETTER

    from evorec.graphs.online_queue import propose_candidate

    ctx = context(guardrails={"daily_active_rate": 0.0})
    exp = propose_candidate(
        ctx.journal_path, BETTER, "likes", surface=ctx.surface, workdir=ctx.workdir
    )["id"]
    with pytest.raises(errors.ConfigError, match="max_drop"):
        run_online(ctx, thread_id="bad")
    assert Journal(ctx.journal_path).get(exp).status is Status.PROPOSED
    assert not (ctx.artifacts_dir / exp).exists()
    # Corrected, the same thread runs the candidate.
    fixed = context(users=500, days=1)
    run_online(fixed, thread_id="bad")
    final = Journal(ctx.journal_path).get(exp).status
    assert final in (Status.LAUNCHED, Status.NOT_LAUNCHED, Status.ABORTED)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"budget": -1}, "budget must be an integer ≥ 0, not -1"),
        ({"budget": "3"}, "budget must be an integer ≥ 0"),
        ({"max_repairs": -1}, "max_repairs must be an integer ≥ 0"),
        ({"top_k": 0}, "top_k must be a positive integer, not 0"),
        ({"proxy_budget": 0}, "proxy_budget must be a positive integer or null"),
        ({"max_promotions": -1}, "max_promotions must be an integer ≥ 0 or null"),
        ({"seed": -1}, "seed must be an integer ≥ 0"),
        ({"proxy_seeds": ()}, "proxy_seeds needs at least one seed"),
        ({"proxy_seeds": (0, "1")}, "each of proxy_seeds must be an integer ≥ 0"),
    ],
)
def test_offline_settings_are_checked(bad, message, tmp_path):
    ctx = OfflineContext(data_path=str(tmp_path / "missing.duckdb"), **bad)
    with pytest.raises(errors.ConfigError, match=message):
        prepare_offline(ctx)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"rounds": -1}, "rounds must be an integer ≥ 0"),
        ({"proposals": 0}, "proposals must be a positive integer"),
        ({"budget": 0}, "budget must be a positive integer or null"),
        ({"max_elites": 0}, "max_elites must be a positive integer, not 0"),
        ({"pre_days": -1}, "pre_days must be an integer ≥ 0 or null"),
        ({"seed": -2}, "seed must be an integer ≥ 0"),
        ({"min_distance": 1.0}, r"min_distance must be a number in \[0, 1\)"),
        ({"guardrails": ({"metric": "nope", "max_drop": 0.1},)}, "unknown guardrail metric"),
        ({"guardrails": ({"metric": "daily_active_rate"},)}, "exactly the keys"),
        ({"guardrails": (0.1,)}, "a guardrail is a Guardrail"),
    ],
)
def test_rectune_settings_are_checked(bad, message, tmp_path):
    with pytest.raises(errors.ConfigError, match=message):
        prepare_rectune(RecTuneContext(workdir=str(tmp_path), **bad))
