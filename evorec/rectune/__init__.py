"""AgenticRecTune: Actor, Critic, Online, Insight and Skill agents tuning the score fusion of a
multi-stage recommendation pipeline, learning into a persistent, versioned Skillhub.

The agents' graph is :mod:`evorec.graphs.rectune`; this package holds what it is made of:
the objectives (Pareto order, guardrail floors, budget), the Skillhub, the Actor's back-ends,
the rule-based cores of the Critic, Insight and Skill agents, and the prompts.
"""

from evorec.rectune.agents import InsightReport, Verdict, critique, distil, insight
from evorec.rectune.context import ActorTask, load_prompt, render_actor_prompt
from evorec.rectune.objectives import (
    METRICS,
    Objectives,
    dominates,
    floor_breaches,
    pareto_front,
    parse_floor,
)
from evorec.rectune.proposers import (
    ActorAnswer,
    BuiltinFusionProposer,
    FusionProposal,
    FusionProposer,
    LLMFusionProposer,
    OptunaFusionProposer,
    RandomFusionProposer,
    load_fusion_proposer,
)
from evorec.rectune.skillhub import (
    STAGES,
    ElitePoint,
    Knowledge,
    Skill,
    Skillhub,
    open_skillhub,
    seed_skill,
    skill_to_markdown,
    task_key,
)
from evorec.rectune.space import Bound, normalise_space

__all__ = [
    "METRICS",
    "STAGES",
    "ActorAnswer",
    "ActorTask",
    "Bound",
    "BuiltinFusionProposer",
    "ElitePoint",
    "FusionProposal",
    "FusionProposer",
    "InsightReport",
    "Knowledge",
    "LLMFusionProposer",
    "Objectives",
    "OptunaFusionProposer",
    "RandomFusionProposer",
    "Skill",
    "Skillhub",
    "Verdict",
    "critique",
    "distil",
    "dominates",
    "floor_breaches",
    "insight",
    "load_fusion_proposer",
    "load_prompt",
    "normalise_space",
    "open_skillhub",
    "parse_floor",
    "pareto_front",
    "render_actor_prompt",
    "seed_skill",
    "skill_to_markdown",
    "task_key",
]
