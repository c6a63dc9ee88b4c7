"""The LLM proposer with scripted LangChain fakes, and loading proposers by name."""

from __future__ import annotations

import pytest
from _fakes import ScriptedChatModel

from evorec.delta import apply_delta
from evorec.errors import ConfigError, InvalidDelta
from evorec.journal import Journal, Status
from evorec.llm import load_chat_model, load_proposer
from evorec.proposers import (
    BuiltinProposer,
    LLMProposer,
    OptunaProposer,
    PatchOperation,
    ProposalError,
    ProposalModel,
    RandomProposer,
)
from evorec.ranker.schema import baseline_phi


def op(op_name: str, path: str, value_json: str | None = None) -> PatchOperation:
    return PatchOperation(op=op_name, path=path, value_json=value_json)


def test_a_scripted_proposal_is_parsed():
    model = ScriptedChatModel(
        script=[
            ProposalModel(
                hypothesis=" Adam converges faster. ",
                delta=[
                    op("replace", "/optimizer/algorithm", '"adam"'),
                    op("replace", "/optimizer/learning_rate", "0.001"),
                    op("add", "/optimizer/grad_clip_norm", "1.0"),
                ],
            )
        ]
    )
    proposal = LLMProposer(model, name="fake").propose(
        "optimizer", baseline_phi=baseline_phi(), history_text="H"
    )
    assert proposal.hypothesis == "Adam converges faster."
    assert proposal.delta == [
        {"op": "replace", "path": "/optimizer/algorithm", "value": "adam"},
        {"op": "replace", "path": "/optimizer/learning_rate", "value": 0.001},
        {"op": "add", "path": "/optimizer/grad_clip_norm", "value": 1.0},
    ]
    assert apply_delta(baseline_phi(), proposal.delta).optimizer.algorithm == "adam"
    prompt = model.prompts[0]
    assert (
        prompt.index("# Role")
        < prompt.index("# Primary objectives")
        < prompt.index("# Experiment journal")
    )
    assert "Optimizer" in prompt and "# Repair" not in prompt


def test_a_hallucinated_field_is_repaired_after_the_error_is_shown():
    model = ScriptedChatModel(
        script=[
            ProposalModel(hypothesis="turbo mode", delta=[op("add", "/optimizer/turbo", "true")]),
            ProposalModel(
                hypothesis="adamw instead", delta=[op("replace", "/optimizer/algorithm", '"adamw"')]
            ),
        ]
    )
    proposer = LLMProposer(model)
    phi = baseline_phi()
    first = proposer.propose("optimizer", baseline_phi=phi, history_text="")
    with pytest.raises(InvalidDelta) as info:
        apply_delta(phi, first.delta)
    second = proposer.propose(
        "optimizer", baseline_phi=phi, history_text="", error_feedback=str(info.value)
    )
    assert apply_delta(phi, second.delta).optimizer.algorithm == "adamw"
    assert str(info.value) in model.prompts[1] and "# Repair" in model.prompts[1]
    assert str(info.value) not in model.prompts[0]


def test_history_comes_from_the_journal_when_not_given(tmp_path):
    journal = Journal(tmp_path / "j.duckdb")
    rec = journal.create(
        surface="home_feed",
        author="x",
        persona="reward",
        parent_phi_hash="p",
        delta=[{"op": "replace", "path": "/reward/loss", "value": "mse"}],
        hypothesis="HISTORY-MARKER",
    )
    journal.transition(rec.id, Status.PROXY_WORSE)
    model = ScriptedChatModel(
        script=[
            {
                "hypothesis": "likes",
                "delta": [
                    {
                        "op": "add",
                        "path": "/reward/terms/-",
                        "value_json": '{"signal": "like", "weight": 1.0}',
                    }
                ],
            }
        ]
    )
    proposal = LLMProposer(model).propose("reward", baseline_phi=baseline_phi(), journal=journal)
    assert "HISTORY-MARKER" in model.prompts[0]
    assert proposal.delta[0]["value"] == {"signal": "like", "weight": 1.0}


@pytest.mark.parametrize(
    "answer", [None, {"hypothesis": "x", "delta": "nope"}, ValueError("bad json")]
)
def test_unusable_answers_are_proposal_errors(answer):
    model = ScriptedChatModel(script=[answer])
    with pytest.raises(ProposalError):
        LLMProposer(model).propose("optimizer", baseline_phi=baseline_phi(), history_text="")


def test_a_bare_string_value_is_kept_as_text():
    assert op("replace", "/optimizer/algorithm", "adam").to_op()["value"] == "adam"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("builtin", BuiltinProposer),
        ("random", RandomProposer),
        ("optuna", OptunaProposer),
        (" Builtin ", BuiltinProposer),
    ],
)
def test_load_proposer_by_name(name, kind):
    assert isinstance(load_proposer(name, seed=1), kind)


def test_gemini_needs_a_key(monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    for name in ("gemini", "gemini:gemini-2.5-flash"):
        with pytest.raises(ConfigError, match="set GOOGLE_API_KEY.*builtin"):
            load_proposer(name)


def test_gemini_with_a_key_builds_the_model_without_calling_it(monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", "test-key-not-used")
    proposer = load_proposer("gemini")
    assert isinstance(proposer, LLMProposer) and proposer.name == "gemini:gemini-2.5-pro"
    assert type(proposer.chat_model).__name__ == "ChatGoogleGenerativeAI"
    assert load_proposer("gemini:gemini-2.5-flash").name == "gemini:gemini-2.5-flash"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("gpt-4o", "unknown model name"),
        ("", "no model name"),
        ("nosuchprovider:model-x", "choose builtin"),
        ("optuna:tpe", "takes no model part"),
    ],
)
def test_unknown_names_are_config_errors_naming_the_choices(name, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        load_proposer(name)
    assert "builtin" in str(info.value)


def test_provider_key_missing(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        load_chat_model("openai:gpt-4.1")
    with pytest.raises(ConfigError, match="built-in proposer"):
        load_chat_model("builtin")
