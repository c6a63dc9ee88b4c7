"""The Actor's back-ends: where a round's candidate fusion configurations come from.

The same four back-ends as the offline agent's proposers (:mod:`evorec.proposers`):

- :class:`BuiltinFusionProposer` — a **search heuristic, not a language model**: it moves one
  or two fields of the stage's search space from the base configuration (the best so far),
  choosing fields and directions by the effects learned in earlier tests (the skill's
  ``field_effects``), avoiding moves the domain knowledge marks harmful, and now and then
  combining two elite configurations. It never repeats a tested configuration.
- :class:`RandomFusionProposer` — random search: one or two fields set uniformly in bounds.
- :class:`OptunaFusionProposer` — Optuna's TPE sampler over the whole search space (ask/tell;
  :meth:`observe` tells it the objectives' score of each tested candidate).
- :class:`LLMFusionProposer` — a LangChain chat model prompted with the Actor's context
  (:func:`~evorec.rectune.context.render_actor_prompt`), parsed with structured output into
  :class:`ActorAnswer`, with a bounded repair loop that shows the model its own error.

:func:`load_fusion_proposer` picks one by name (``builtin``, ``random``, ``optuna``,
``gemini[:model]``, ``provider:model``), reusing :func:`evorec.llm.load_chat_model`.
"""

from __future__ import annotations

import copy
import json
import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evorec.errors import EvorecError
from evorec.proposers import ProposalModel
from evorec.rectune.context import ActorTask, render_actor_prompt
from evorec.rectune.space import Bound, config_distance, delta_for, read_value

__all__ = [
    "ActorAnswer",
    "BuiltinFusionProposer",
    "FusionProposal",
    "FusionProposer",
    "LLMFusionProposer",
    "OptunaFusionProposer",
    "RandomFusionProposer",
    "load_fusion_proposer",
]


class _ActorError(EvorecError):
    """The Actor could not produce proposals (an unparsable model answer)."""


@dataclass(frozen=True)
class FusionProposal:
    """A hypothesis and the delta (RFC 6902, against the round's base configuration)."""

    hypothesis: str
    delta: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    """Back-end details: proposer name, fields moved, Optuna trial number."""

    def to_dict(self) -> dict[str, Any]:
        return {"hypothesis": self.hypothesis, "delta": list(self.delta), "meta": dict(self.meta)}


class ActorAnswer(BaseModel):
    """A chat model's answer as the Actor: several candidates."""

    model_config = ConfigDict(extra="forbid")

    proposals: list[ProposalModel] = Field(
        description="The candidates: each a hypothesis and an RFC 6902 delta against the base "
        "configuration (value as JSON text)."
    )


class FusionProposer(ABC):
    """Where a round's candidates come from."""

    name: str = "proposer"

    @abstractmethod
    def propose(self, task: ActorTask) -> list[FusionProposal]:
        """Up to ``task.n`` candidates for ``task.skill``'s stage."""

    def observe(self, proposal: FusionProposal, score: float | None) -> None:  # noqa: B027
        """Report a candidate's objectives score (higher is better; None: dropped, failed;
        ``-inf``: a guardrail floor breached)."""

    def start_round(self, seed: int) -> None:  # noqa: B027
        """Called before each round's :meth:`propose` with a seed derived from the study's
        seed and the round. Back-ends whose only memory is a random stream reseed it, so a
        study resumed in a new process proposes what an uninterrupted one would."""


# ----------------------------------------------------------------------------- helpers


def _apply_values(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any] | None:
    """``base`` with ``values`` set (None when the result is not a valid config)."""
    from evorec.simulator.pipeline import apply_fusion_delta

    try:
        return apply_fusion_delta(base, delta_for(base, values)).to_json()
    except EvorecError:
        return None


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


def _signal_words(pointer: str) -> str:
    parts = pointer.strip("/").split("/")
    if len(parts) == 4 and parts[1] == "weights":
        return f"the {parts[3]} of {parts[2]}"
    return parts[-1].replace("_", " ")


def _knowledge_about(skill: Any, pointer: str) -> str | None:
    parts = pointer.strip("/").split("/")
    words = {parts[-1]} | ({parts[2]} if len(parts) == 4 else set())
    for k in skill.knowledge:
        if k.pointer == pointer:
            return k.text
    for k in skill.knowledge:
        if k.pointer is None and any(w in k.text for w in words if len(w) > 3):
            return k.text
    return None


def _harmful(skill: Any, pointer: str, move: str, new: float) -> bool:
    for k in skill.knowledge:
        if k.pointer == pointer and k.move == move and k.effect == "hurts":
            if k.beyond is None:
                return True
            if (move == "increase" and new >= k.beyond) or (move == "decrease" and new <= k.beyond):
                return True
    return False


def _seen(task: ActorTask) -> list[dict[str, Any]]:
    return [task.base_config, *(a["config"] for a in task.tested if a.get("config"))]


def _finish(
    task: ActorTask, config: dict[str, Any], hypothesis: str, meta: dict[str, Any]
) -> FusionProposal:
    values = {
        p: read_value(config, p)
        for p in task.skill.search_space
        if read_value(config, p) != read_value(task.base_config, p)
    }
    return FusionProposal(
        hypothesis=hypothesis, delta=delta_for(task.base_config, values), meta=meta
    )


# --------------------------------------------------------------------- built-in search


class BuiltinFusionProposer(FusionProposer):
    """Built-in search heuristic (no language model); see the module docstring."""

    name = "builtin"

    def __init__(
        self,
        seed: int = 0,
        *,
        combine: float = 0.25,
        min_distance: float = 0.05,
        max_attempts: int = 200,
    ) -> None:
        self.rng = random.Random(seed)
        self.combine = combine
        self.min_distance = min_distance
        self.max_attempts = max_attempts

    def _field_weight(self, skill: Any, pointer: str) -> float:
        moves = skill.field_effects.get(pointer) or {}
        best = None
        for scores in moves.values():
            finite = [s for s in scores if s is not None and s > -1e9]
            if finite:
                mean = sum(finite) / len(finite)
                best = mean if best is None else max(best, mean)
        if best is None:
            return 1.0  # untried fields keep an even chance
        return max(0.2, 1.0 + 50.0 * best)  # a score of +0.02 doubles the chance

    def _direction(self, skill: Any, pointer: str) -> str | None:
        moves = skill.field_effects.get(pointer) or {}

        def mean(move: str) -> float | None:
            scores = moves.get(move) or []
            if not scores:
                return None
            finite = [s if s > -1e9 else -0.05 for s in scores if s is not None]
            return sum(finite) / len(finite) if finite else None

        up, down = mean("increase"), mean("decrease")
        if up is None and down is None:
            return None
        if down is None:
            return "increase" if up > 0 else "decrease"
        if up is None:
            return "decrease" if down > 0 else "increase"
        return "increase" if up >= down else "decrease"

    def _move(
        self, task: ActorTask, pointer: str, bound: Bound
    ) -> tuple[float | int, str, str] | None:
        current = read_value(task.base_config, pointer)
        if not isinstance(current, int | float):
            return None
        if pointer.endswith("/exponent") and not read_value(
            task.base_config, pointer[: -len("exponent")] + "weight"
        ):
            return None  # the exponent of a term without weight changes nothing
        preferred = self._direction(task.skill, pointer)
        if preferred is not None and self.rng.random() < 0.75:
            move = preferred
        else:
            move = self.rng.choice(("increase", "decrease"))
        step = self.rng.uniform(0.1, 0.35) * bound.width
        if bound.kind == "int":
            step = max(1.0, round(step))
        new = bound.clip(current + step if move == "increase" else current - step)
        if new == current:
            move = "decrease" if move == "increase" else "increase"
            new = bound.clip(current + step if move == "increase" else current - step)
        if new == current or _harmful(task.skill, pointer, move, float(new)):
            return None
        why = _knowledge_about(task.skill, pointer)
        moves = task.skill.field_effects.get(pointer, {}).get(move)
        if moves:
            finite = [s for s in moves if s > -1e9]
            if finite:
                why = (
                    f"moving it this way scored {sum(finite) / len(finite):+.4f} on average "
                    f"in {len(finite)} earlier test(s)"
                )
        verb = "raise" if move == "increase" else "lower"
        reason = why or "its effect on the metrics is untested; probe it"
        return (
            new,
            move,
            f"{verb} {_signal_words(pointer)} (`{pointer}`) from {current:g} to {new:g}: {reason}",
        )

    def _combine(self, task: ActorTask) -> tuple[dict[str, Any], str] | None:
        elites = [e for e in task.skill.elites if e.delta]
        if len(elites) < 2:
            return None
        a, b = self.rng.sample(elites, 2)
        values = {}
        for pointer, bound in task.skill.search_space.items():
            x, y = read_value(a.config, pointer), read_value(b.config, pointer)
            if isinstance(x, int | float) and isinstance(y, int | float) and x != y:
                values[pointer] = bound.clip((x + y) / 2.0)
        if not values:
            return None
        config = _apply_values(task.base_config, values)
        if config is None:
            return None
        fields = ", ".join(f"`{p}`" for p in sorted(values))
        return config, (
            f"combine elites {a.arm} and {b.arm}: set {fields} halfway between them — both "
            "were Pareto-optimal, their mix may keep the gains of each"
        )

    def start_round(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def propose(self, task: ActorTask) -> list[FusionProposal]:
        space = task.skill.search_space
        pointers = list(space)
        seen = _seen(task)
        keys = {_config_key(c) for c in seen}
        out: list[FusionProposal] = []
        configs: list[dict[str, Any]] = []
        for _ in range(self.max_attempts):
            if len(out) >= task.n:
                break
            meta: dict[str, Any] = {"proposer": self.name}
            combined = self._combine(task) if self.rng.random() < self.combine else None
            if combined is not None:
                config, hypothesis = combined
                meta["operator"] = "combine"
            else:
                k = 1 if self.rng.random() < 0.6 or len(pointers) < 2 else 2
                weights = [self._field_weight(task.skill, p) for p in pointers]
                chosen: list[str] = []
                while len(chosen) < k:
                    p = self.rng.choices(pointers, weights=weights)[0]
                    if p not in chosen:
                        chosen.append(p)
                values, sentences, moves = {}, [], {}
                for p in chosen:
                    moved = self._move(task, p, space[p])
                    if moved is None:
                        continue
                    values[p], moves[p], sentence = moved
                    sentences.append(sentence)
                if not values:
                    continue
                config = _apply_values(task.base_config, values)
                if config is None:
                    continue
                hypothesis = "; ".join(x.rstrip(".") for x in sentences) + "."
                meta.update(operator="move", moves=moves)
            key = _config_key(config)
            if key in keys:
                continue
            if any(config_distance(config, c, space) < self.min_distance for c in configs):
                continue
            keys.add(key)
            configs.append(config)
            out.append(_finish(task, config, hypothesis, meta))
        return out


class RandomFusionProposer(FusionProposer):
    """Random search: one or two fields of the search space, uniform in their bounds."""

    name = "random"

    def __init__(self, seed: int = 0, *, max_attempts: int = 200) -> None:
        self.rng = random.Random(seed)
        self.max_attempts = max_attempts

    def start_round(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def propose(self, task: ActorTask) -> list[FusionProposal]:
        space = task.skill.search_space
        keys = {_config_key(c) for c in _seen(task)}
        out: list[FusionProposal] = []
        for _ in range(self.max_attempts):
            if len(out) >= task.n:
                break
            chosen = self.rng.sample(list(space), min(len(space), self.rng.choice((1, 2))))
            values = {
                p: space[p].clip(self.rng.uniform(space[p].low, space[p].high)) for p in chosen
            }
            config = _apply_values(task.base_config, values)
            if config is None or _config_key(config) in keys:
                continue
            keys.add(_config_key(config))
            sentence = "; ".join(
                f"set {_signal_words(p)} (`{p}`) to {v:g}" for p, v in sorted(values.items())
            )
            out.append(
                _finish(task, config, f"random search: {sentence}.", {"proposer": self.name})
            )
        return out


# ------------------------------------------------------------------------------- Optuna


class OptunaFusionProposer(FusionProposer):
    """Optuna's TPE sampler over the whole search space (ask/tell, maximising the score)."""

    name = "optuna"

    def __init__(self, seed: int = 0, *, breach_value: float = -0.1) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        self.breach_value = breach_value
        self._trials: dict[int, Any] = {}

    def propose(self, task: ActorTask) -> list[FusionProposal]:
        from optuna.distributions import FloatDistribution, IntDistribution

        space = task.skill.search_space
        dists = {
            p: IntDistribution(int(math.ceil(b.low)), int(math.floor(b.high)))
            if b.kind == "int"
            else FloatDistribution(b.low, b.high)
            for p, b in space.items()
        }
        keys = {_config_key(c) for c in _seen(task)}
        out: list[FusionProposal] = []
        for _ in range(task.n * 5):
            if len(out) >= task.n:
                break
            trial = self.study.ask(dists)
            values = {p: space[p].clip(v) for p, v in trial.params.items()}
            config = _apply_values(task.base_config, values)
            if config is None or _config_key(config) in keys:
                self.study.tell(trial, state=_fail_state())
                continue
            keys.add(_config_key(config))
            self._trials[trial.number] = trial
            changed = [p for p in space if read_value(config, p) != read_value(task.base_config, p)]
            names = ", ".join(f"`{p}`" for p in changed)
            out.append(
                _finish(
                    task,
                    config,
                    f"TPE sample (trial {trial.number}) over the search space: sets {names}.",
                    {"proposer": self.name, "trial": trial.number},
                )
            )
        return out

    def observe(self, proposal: FusionProposal, score: float | None) -> None:
        trial = self._trials.pop(int(proposal.meta.get("trial", -1)), None)
        if trial is None:
            return
        if score is None:
            self.study.tell(trial, state=_fail_state())
        else:
            self.study.tell(trial, score if math.isfinite(score) else self.breach_value)


def _fail_state() -> Any:
    from optuna.trial import TrialState

    return TrialState.FAIL


# ---------------------------------------------------------------------------------- LLM


class LLMFusionProposer(FusionProposer):
    """A chat model as the Actor (structured output, bounded repair)."""

    def __init__(self, chat_model: Any, *, name: str = "llm", max_repairs: int = 2) -> None:
        self.chat_model = chat_model
        self.name = name
        self.max_repairs = max_repairs
        self.prompts: list[str] = []

    def messages(self, task: ActorTask) -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        system, user = render_actor_prompt(task)
        return [SystemMessage(content=system), HumanMessage(content=user)]

    def _ask(self, task: ActorTask) -> ActorAnswer:
        from pydantic import ValidationError

        messages = self.messages(task)
        self.prompts.append("\n".join(str(m.content) for m in messages))
        try:
            answer = self.chat_model.with_structured_output(ActorAnswer).invoke(messages)
        except (ValidationError, ValueError) as exc:
            raise _ActorError(f"the answer is not a valid ActorAnswer: {exc}") from None
        if answer is None:
            raise _ActorError("the model returned no ActorAnswer")
        if not isinstance(answer, ActorAnswer):
            try:
                answer = ActorAnswer.model_validate(answer)
            except ValidationError as exc:
                raise _ActorError(f"the answer is not a valid ActorAnswer: {exc}") from None
        if not answer.proposals:
            raise _ActorError("the answer has no proposals")
        return answer

    def propose(self, task: ActorTask) -> list[FusionProposal]:
        attempt = copy.copy(task)
        for repair in range(self.max_repairs + 1):
            try:
                answer = self._ask(attempt)
            except _ActorError as exc:
                if repair >= self.max_repairs:
                    raise
                attempt = copy.copy(task)
                attempt.error = f"{exc}. Answer again, following the schema exactly."
                continue
            out = []
            for p in answer.proposals[: task.n]:
                proposal = p.to_proposal(proposer=self.name)
                out.append(
                    FusionProposal(
                        hypothesis=proposal.hypothesis,
                        delta=list(proposal.delta),
                        meta={"proposer": self.name, "repairs": repair},
                    )
                )
            return out
        return []  # pragma: no cover - the loop returns or raises


# ------------------------------------------------------------------------------ loading


def load_fusion_proposer(name: str, *, seed: int = 0) -> FusionProposer:
    """A fusion proposer by name: builtin | random | optuna | gemini[:model] | provider:model."""
    from evorec.errors import ConfigError
    from evorec.llm import MODEL_CHOICES, load_chat_model

    text = (name or "").strip()
    provider, _, model = text.partition(":")
    provider = provider.lower()
    builtin = {
        "builtin": BuiltinFusionProposer,
        "random": RandomFusionProposer,
        "optuna": OptunaFusionProposer,
    }
    if provider in builtin:
        if model:
            raise ConfigError(f"{provider!r} takes no model part; choose {MODEL_CHOICES}")
        return builtin[provider](seed)
    chat = load_chat_model(text)
    return LLMFusionProposer(chat, name=text)
