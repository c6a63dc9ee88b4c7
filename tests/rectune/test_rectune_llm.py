"""The Actor, Insight and Skill agents as a scripted fake chat model; the search back-ends."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.runnables import RunnableLambda
from pydantic import Field

from evorec.errors import ConfigError
from evorec.graphs.rectune import run_rectune
from evorec.graphs.rectune_state import RecTuneContext
from evorec.proposers import PatchOperation, ProposalModel
from evorec.rectune.context import ActorTask
from evorec.rectune.proposers import (
    ActorAnswer,
    LLMFusionProposer,
    load_fusion_proposer,
)
from evorec.rectune.space import read_value

Q = "/ranking/weights/quality/weight"


class ScriptedChatModel(GenericFakeChatModel):
    """Structured output replays scripted answers per schema and records the prompts."""

    messages: Any = Field(default_factory=lambda: iter(()))
    script: dict[str, list[Any]] = Field(default_factory=dict)
    prompts: list[tuple[str, str]] = Field(default_factory=list)

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        def answer(messages: list[Any]) -> Any:
            self.prompts.append((schema.__name__, "\n".join(m.content for m in messages)))
            item = self.script[schema.__name__].pop(0)
            if isinstance(item, Exception):
                raise item
            return item

        return RunnableLambda(answer)

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _proposal(value: float, why: str = "quality weight up for satisfaction") -> ProposalModel:
    return ProposalModel(
        hypothesis=f"raise the quality weight ({Q}) to {value}: {why}",
        delta=[PatchOperation(op="replace", path=Q, value_json=str(value))],
    )


def test_llm_actor_repairs_then_its_proposals_are_critiqued(tmp_path, fake_ab):
    model = ScriptedChatModel(
        script={
            "ActorAnswer": [
                ValueError("not JSON"),
                ActorAnswer(proposals=[_proposal(1.0), _proposal(9.0), _proposal(1.0)]),
            ],
            "InsightAnswer": [{"summary": "Quality helped satisfaction and active days."}],
            "SkillAnswer": [
                {
                    "rules": [
                        {
                            "text": "Quality weight near 1 lifts satisfaction.",
                            "pointer": Q,
                            "move": "increase",
                            "effect": "helps",
                        }
                    ]
                }
            ],
        }
    )
    proposer = LLMFusionProposer(model, name="fake")
    ctx = RecTuneContext(
        surface="home_feed",
        stage="ranking",
        rounds=1,
        proposals=3,
        users=500,
        days=1,
        workdir=str(tmp_path),
        proposer=proposer,
    )
    out = run_rectune(ctx, thread_id="llm")
    actor_prompts = [p for name, p in model.prompts if name == "ActorAnswer"]
    assert len(actor_prompts) == 2
    first = actor_prompts[0]
    for section in (
        "# Role",
        "# Objectives",
        "# Search space",
        "# Domain knowledge",
        "# Learned patterns",
        "# Elite (Pareto)",
        "# Base configuration",
        "# Initial configuration",
    ):
        assert section in first
    assert "Propose exactly **3** candidates" in first
    assert "not JSON" in actor_prompts[1]  # the repair shows the model its own error
    assert [v["rule"] for v in out["verdicts"]] == ["ok", "range", "duplicate"]
    assert [a["changes"][Q][1] for a in out["arms"]] == [1.0]
    assert out["insights"][0]["summary"].startswith("Quality helped")
    assert any(
        k["text"] == "Quality weight near 1 lifts satisfaction." for k in out["skill"]["knowledge"]
    )


def test_llm_actor_gives_up_after_bounded_repairs(ranking_skill):
    model = ScriptedChatModel(script={"ActorAnswer": [ValueError("bad")] * 3})
    task = ActorTask(skill=ranking_skill, base_config=ranking_skill.initial_config, n=2)
    with pytest.raises(Exception, match="bad"):
        LLMFusionProposer(model, max_repairs=2).propose(task)
    assert len(model.prompts) == 3


@pytest.mark.parametrize("name", ["builtin", "random", "optuna"])
def test_search_backends_propose_valid_distinct_in_range(name, ranking_skill):
    from evorec.rectune.agents import critique

    proposer = load_fusion_proposer(name, seed=3)
    task = ActorTask(skill=ranking_skill, base_config=ranking_skill.initial_config, n=4)
    proposals = proposer.propose(task)
    assert len(proposals) == 4
    verdicts = critique(
        [p.to_dict() for p in proposals],
        skill=ranking_skill,
        base_config=task.base_config,
        min_distance=0.0,
    )
    assert [v.rule for v in verdicts] == ["ok"] * 4, [v.justification for v in verdicts]
    for p, v in zip(proposals, verdicts, strict=True):
        proposer.observe(p, 0.01)
        for pointer, bound in ranking_skill.search_space.items():
            assert bound.contains(read_value(v.config, pointer))


def test_unknown_model_names_are_config_errors():
    with pytest.raises(ConfigError):
        load_fusion_proposer("builtin:x")
    with pytest.raises(ConfigError):
        load_fusion_proposer("nonsense")
