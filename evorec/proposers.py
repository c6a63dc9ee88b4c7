"""Proposers: where the offline loop's next delta to Φ comes from. One interface, four back-ends.

- :class:`LLMProposer` — a LangChain chat model, prompted with the persona's context
  (``evorec.personas.build_context``) and parsed into :class:`ProposalModel` with structured
  output; given the previous error it repairs its answer.
- :class:`BuiltinProposer` — the built-in offline proposer. It is a **search heuristic, not a
  language model**: per persona, structural and numeric mutation operators over Φ, steered by
  the Experiment Journal (it never repeats a journaled delta, prefers operators whose fields
  improved the proxy before, and with some probability refines or combines the best results
  so far). It lets the whole system run with no network.
- :class:`RandomProposer` — the random-search baseline: the same operators, chosen uniformly,
  with no journal.
- :class:`OptunaProposer` — the classical AutoML answer: Optuna's TPE sampler over the numeric
  and categorical fields of the persona's section, through ask/tell (``observe`` tells it the
  proxy loss); its studies are warm-started from the journal, so they survive a resume.

Every proposal's delta is relative to the ``baseline_phi`` it was asked for, touches only the
persona's section, and (for the non-LLM back-ends) applies and validates.
"""

from __future__ import annotations

import copy
import json
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evorec.delta import apply_delta, diff, render_delta
from evorec.errors import EvorecError, InvalidDelta
from evorec.journal import ExperimentRecord, Status, delta_key
from evorec.personas.catalog import PROPOSERS, Persona, persona_of
from evorec.personas.linter import lint_delta
from evorec.ranker.schema import SIGNALS, Phi

__all__ = [
    "BuiltinProposer",
    "LLMProposer",
    "OptunaProposer",
    "PatchOperation",
    "Proposal",
    "ProposalError",
    "ProposalModel",
    "Proposer",
    "RandomProposer",
]


class ProposalError(EvorecError, ValueError):
    """A proposer could not produce a proposal (an unparsable model answer, an exhausted search)."""


@dataclass(frozen=True)
class Proposal:
    """A hypothesis and the delta (RFC 6902 JSON Patch against the baseline Φ) that tests it."""

    hypothesis: str
    delta: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    """Back-end details: proposer name, operators used, parent experiment, Optuna trial."""


class Proposer(ABC):
    """Where the next delta comes from."""

    name: str = "proposer"

    @abstractmethod
    def propose(
        self,
        persona: Persona | str,
        *,
        baseline_phi: Phi,
        journal: Any = None,
        history_text: str | None = None,
        error_feedback: str | None = None,
    ) -> Proposal:
        """Propose one delta for ``persona``'s section of ``baseline_phi``.

        ``journal`` is an :class:`~evorec.journal.Journal` (or a list of records) to learn
        from; ``history_text`` the rendered history for prompts; ``error_feedback`` the error
        the previous proposal met (for repair).
        """

    def observe(self, proposal: Proposal, value: float | None) -> None:  # noqa: B027 - optional hook
        """Report a proposal's proxy loss (lower is better; None = failed or rejected)."""


def _records(journal: Any) -> list[ExperimentRecord]:
    if journal is None:
        return []
    if hasattr(journal, "records"):
        return list(journal.records())
    return list(journal)


def _section_only(delta: Sequence[dict[str, Any]], section: str) -> bool:
    return bool(delta) and all(
        str(op.get("path", "")).startswith(f"/{section}/")
        and ("from" not in op or str(op["from"]).startswith(f"/{section}/"))
        for op in delta
    )


# ------------------------------------------------------------------ mutation operators
#
# An operator takes (rng, Φ JSON) and changes Φ's section in place, returning a sentence for
# the hypothesis, or None when it does not apply to this Φ.

_Operator = Callable[[random.Random, dict[str, Any]], str | None]

_ALGORITHMS = ("adagrad", "rmsprop", "adam", "adamw", "sgd")
_LR_FOR = {
    "adagrad": (0.01, 0.03, 0.1),
    "rmsprop": (1e-3, 3e-3),
    "adam": (1e-3, 3e-3),
    "adamw": (1e-3, 3e-3),
    "sgd": (0.01, 0.03, 0.1),
}
_WHY_ALGO = {
    "adagrad": "per-parameter rates suit sparse embeddings",
    "rmsprop": "a moving average of squared gradients keeps rates from decaying forever, unlike adagrad",
    "adam": "momentum plus RMS scaling usually converges faster and further than adagrad",
    "adamw": "adam's speed with decoupled weight decay for better generalisation",
    "sgd": "momentum SGD generalises well once its learning rate is right",
}


def _pick_other(rng: random.Random, options: Sequence[Any], current: Any) -> Any:
    choices = [o for o in options if o != current]
    return rng.choice(choices) if choices else None


def _opt_algorithm(rng: random.Random, phi: dict[str, Any]) -> str | None:
    s = phi["optimizer"]
    algo = _pick_other(rng, _ALGORITHMS, s["algorithm"])
    s["algorithm"], s["learning_rate"] = algo, rng.choice(_LR_FOR[algo])
    if algo == "sgd":
        s["momentum"] = 0.9
        s["nesterov"] = rng.random() < 0.5
    else:
        s["nesterov"] = False
    return f"switch the optimizer to {algo} (lr {s['learning_rate']:g}): {_WHY_ALGO[algo]}"


def _opt_lr(rng: random.Random, phi: dict[str, Any]) -> str | None:
    s = phi["optimizer"]
    factor = rng.choice((0.2, 0.33, 0.5, 2.0, 3.0, 5.0))
    new = float(f"{min(max(s['learning_rate'] * factor, 1e-5), 1.0):.3g}")
    if new == s["learning_rate"]:
        return None
    direction = (
        "larger steps should converge faster" if factor > 1 else "smaller steps should reduce noise"
    )
    s["learning_rate"] = new
    return f"scale the learning rate by {factor:g} to {new:g}: {direction}"


def _opt_warmup(rng: random.Random, phi: dict[str, Any]) -> str | None:
    s = phi["optimizer"]
    s["warmup_steps"] = _pick_other(rng, (0, 50, 100, 200, 500), s.get("warmup_steps", 0))
    if s["warmup_steps"] == 0:
        return "remove the learning-rate warm-up: the early steps are not unstable"
    return f"warm up the learning rate over {s['warmup_steps']} steps to stabilise early training"


def _opt_schedule(rng: random.Random, phi: dict[str, Any]) -> str | None:
    s = phi["optimizer"]
    sched = _pick_other(rng, ("constant", "cosine", "linear", "exponential"), s.get("schedule"))
    s["schedule"] = sched
    if sched in ("cosine", "linear"):
        s["min_lr_ratio"] = rng.choice((0.0, 0.05, 0.1))
        return f"decay the learning rate with a {sched} schedule to {s['min_lr_ratio']:g}× the peak: large steps early, fine ones late"
    if sched == "exponential":
        s["decay_rate"] = rng.choice((0.5, 0.7, 0.8))
        return f"decay the learning rate exponentially (×{s['decay_rate']:g} per 1,000 steps)"
    return "keep the learning rate constant: the decay cuts training short"


def _opt_clip(rng: random.Random, phi: dict[str, Any]) -> str | None:
    s = phi["optimizer"]
    if s.get("grad_clip_norm") is not None and rng.random() < 0.4:
        s["grad_clip_norm"] = None
        return "remove gradient clipping: it slows learning without preventing instability"
    s["grad_clip_norm"] = _pick_other(rng, (0.5, 1.0, 5.0), s.get("grad_clip_norm"))
    return f"clip the gradient norm at {s['grad_clip_norm']:g} to tame rare large updates"


def _opt_weight_decay(rng: random.Random, phi: dict[str, Any]) -> str | None:
    s = phi["optimizer"]
    s["weight_decay"] = _pick_other(rng, (0.0, 1e-5, 1e-4, 1e-3), s.get("weight_decay", 0.0))
    if s["algorithm"] == "adam" and s["weight_decay"] > 0:
        s["algorithm"] = "adamw"
        return (
            f"switch adam to adamw with decoupled weight decay {s['weight_decay']:g} to regularise"
        )
    return f"set weight decay to {s['weight_decay']:g} to regularise the embeddings"


def _opt_algo_params(rng: random.Random, phi: dict[str, Any]) -> str | None:
    s = phi["optimizer"]
    algo = s["algorithm"]
    if algo == "adagrad":
        s["initial_accumulator"] = _pick_other(
            rng, (0.01, 0.1, 0.5, 1.0), s.get("initial_accumulator")
        )
        return f"start adagrad's accumulator at {s['initial_accumulator']:g} to change its early step sizes"
    if algo in ("adam", "adamw"):
        s["beta2"] = _pick_other(rng, (0.98, 0.99, 0.999), s.get("beta2"))
        return f"set beta2 to {s['beta2']:g} so the second moment tracks recent gradients"
    if algo == "rmsprop":
        s["rho"] = _pick_other(rng, (0.9, 0.95, 0.99), s.get("rho"))
        return f"set rmsprop's decay rho to {s['rho']:g}"
    s["momentum"] = _pick_other(rng, (0.5, 0.9, 0.95), s.get("momentum"))
    return f"set sgd momentum to {s['momentum']:g}"


_OPTIMIZER_OPS: dict[str, _Operator] = {
    "algorithm": _opt_algorithm,
    "learning_rate": _opt_lr,
    "warmup_steps": _opt_warmup,
    "schedule": _opt_schedule,
    "grad_clip_norm": _opt_clip,
    "weight_decay": _opt_weight_decay,
    "algorithm_params": _opt_algo_params,
}


def _arch_width(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    factor = rng.choice((0.5, 2.0))
    new = [min(max(int(w * factor), 8), 1024) for w in a["tower_widths"]]
    if new == a["tower_widths"]:
        return None
    a["tower_widths"] = new
    return f"{'widen' if factor > 1 else 'narrow'} the tower to {new}: {'more capacity' if factor > 1 else 'less overfitting, faster scoring'}"


def _arch_depth(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    widths = list(a["tower_widths"])
    if len(widths) > 1 and (len(widths) >= 4 or rng.random() < 0.4):
        widths.pop()
        a["tower_widths"] = widths
        return f"remove the last hidden layer (tower {widths}): a shallower tower may fit as well"
    widths.append(max(8, widths[-1] // 2))
    a["tower_widths"] = widths
    return f"add a hidden layer (tower {widths}) to model higher-order interactions"


def _arch_activation(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    a["activation"] = _pick_other(rng, ("relu", "gelu", "silu", "tanh"), a["activation"])
    return f"use {a['activation']} activations: smoother gradients than {'relu' if a['activation'] != 'relu' else 'the current one'}"


def _arch_gated(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    if a.get("gated_path") is not None and rng.random() < 0.3:
        a["gated_path"] = None
        return "remove the gated path: it adds parameters without helping"
    gate = rng.choice(("sigmoid", "gelu", "silu"))
    a["gated_path"] = {"hidden": rng.choice((16, 32, 64)), "gate_activation": gate}
    name = {"sigmoid": "GLU", "gelu": "GEGLU", "silu": "SwiGLU"}[gate]
    return f"add a {name} gated path (hidden {a['gated_path']['hidden']}) so the model can gate features multiplicatively"


def _arch_cross(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    if a.get("cross_layers") is not None and rng.random() < 0.3:
        a["cross_layers"] = None
        return "remove the cross layers: the tower learns the crosses it needs"
    a["cross_layers"] = {"count": rng.choice((1, 2, 3)), "low_rank": rng.choice((None, 8, 16))}
    rank = a["cross_layers"]["low_rank"]
    return f"add {a['cross_layers']['count']} DCN-v2 cross layer(s){f' of rank {rank}' if rank else ''} for explicit user×item feature crosses"


def _arch_norm(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    a["normalization"] = _pick_other(
        rng, ("none", "layernorm", "batchnorm"), a.get("normalization")
    )
    return f"normalise hidden layers with {a['normalization']} to stabilise training"


def _arch_dropout(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    a["dropout"] = _pick_other(rng, (0.0, 0.05, 0.1, 0.2, 0.3), a.get("dropout", 0.0))
    return f"set dropout to {a['dropout']:g} to {'regularise the tower' if a['dropout'] else 'stop discarding signal'}"


def _arch_embedding(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    old = a["embedding_dim"]
    a["embedding_dim"] = _pick_other(rng, [d for d in (8, 12, 24, 32, 48, 64) if d <= 4 * old], old)
    return f"set the embedding width to {a['embedding_dim']} ({'more' if a['embedding_dim'] > old else 'less'} capacity per user, video and topic)"


def _arch_aux(rng: random.Random, phi: dict[str, Any]) -> str | None:
    a = phi["architecture"]
    heads = list(a.get("aux_heads") or [])
    present = {h["signal"] for h in heads}
    missing = [s for s in SIGNALS if s not in present and s != "survey"]
    if heads and (not missing or rng.random() < 0.3):
        i = rng.randrange(len(heads))
        if rng.random() < 0.5:
            removed = heads.pop(i)
            a["aux_heads"] = heads
            return (
                f"remove the auxiliary {removed['signal']} head: it competes with the reward head"
            )
        heads[i] = {
            **heads[i],
            "weight": _pick_other(rng, (0.1, 0.25, 0.5, 1.0), heads[i]["weight"]),
        }
        a["aux_heads"] = heads
        return f"reweight the auxiliary {heads[i]['signal']} head to {heads[i]['weight']:g}"
    if not missing:
        return None
    signal = rng.choice(missing)
    heads.append({"signal": signal, "weight": rng.choice((0.1, 0.25, 0.5))})
    a["aux_heads"] = heads
    return f"add an auxiliary head predicting {signal} (weight {heads[-1]['weight']:g}): multi-task learning shares a richer representation"


_ARCHITECTURE_OPS: dict[str, _Operator] = {
    "tower_widths": _arch_width,
    "depth": _arch_depth,
    "activation": _arch_activation,
    "gated_path": _arch_gated,
    "cross_layers": _arch_cross,
    "normalization": _arch_norm,
    "dropout": _arch_dropout,
    "embedding_dim": _arch_embedding,
    "aux_heads": _arch_aux,
}

#: Reward-term recipes per signal: (term, why).
_TERM_RECIPES: dict[str, list[tuple[dict[str, Any], str]]] = {
    "completion": [
        (
            {"signal": "completion", "weight": 1.0},
            "finishing a video is a stronger sign of satisfaction than a click",
        ),
        (
            {"signal": "completion", "weight": 0.5, "transform": "threshold", "param": 0.8},
            "watching most of a video marks real interest",
        ),
    ],
    "like": [
        ({"signal": "like", "weight": 1.0}, "an explicit like is a direct satisfaction signal")
    ],
    "dismiss": [
        (
            {"signal": "dismiss", "weight": -1.0},
            "a dismissal is explicit negative feedback; penalise it",
        ),
        ({"signal": "dismiss", "weight": -0.5}, "mildly penalise dismissed recommendations"),
    ],
    "survey": [
        (
            {"signal": "survey", "weight": 0.5, "transform": "threshold", "param": 4.0},
            "a 4-5 survey answer is the closest proxy of satisfaction we log",
        ),
        (
            {"signal": "survey", "weight": 0.1, "fill_missing": 3.0},
            "survey satisfaction (neutral 3 when not asked) tracks long-term return",
        ),
    ],
    "watch_time": [
        (
            {"signal": "watch_time", "weight": 0.2, "transform": "log1p"},
            "log watch time rewards engagement without letting long videos dominate",
        ),
        (
            {"signal": "watch_time", "weight": 0.01, "transform": "clip", "param": 120.0},
            "capped watch time rewards engagement up to two minutes",
        ),
    ],
    "click": [({"signal": "click", "weight": 1.0}, "clicks remain a dense signal of interest")],
}


def _rew_add(rng: random.Random, phi: dict[str, Any]) -> str | None:
    r = phi["reward"]
    present = {t["signal"] for t in r["terms"]}
    missing = [s for s in SIGNALS if s not in present]
    if not missing or len(r["terms"]) >= 12:
        return None
    term, why = rng.choice(_TERM_RECIPES[rng.choice(missing)])
    r["terms"] = [*r["terms"], dict(term)]
    return f"add {term['weight']:g}×{term.get('transform', 'identity')}({term['signal']}) to the label: {why}"


def _rew_reweight(rng: random.Random, phi: dict[str, Any]) -> str | None:
    r = phi["reward"]
    i = rng.randrange(len(r["terms"]))
    term = dict(r["terms"][i])
    factor = rng.choice((0.25, 0.5, 2.0, 4.0))
    term["weight"] = float(f"{max(min(term['weight'] * factor, 100.0), -100.0):.4g}")
    r["terms"] = [*r["terms"][:i], term, *r["terms"][i + 1 :]]
    return f"scale the weight of the {term['signal']} term by {factor:g} to {term['weight']:g}, shifting the label's balance"


def _rew_remove(rng: random.Random, phi: dict[str, Any]) -> str | None:
    r = phi["reward"]
    if len(r["terms"]) < 2:
        return None
    i = rng.randrange(len(r["terms"]))
    gone = r["terms"][i]
    r["terms"] = [*r["terms"][:i], *r["terms"][i + 1 :]]
    return f"drop the {gone['signal']} term: it rewards behaviour that does not bring users back"


def _rew_replace_click(rng: random.Random, phi: dict[str, Any]) -> str | None:
    r = phi["reward"]
    idx = [i for i, t in enumerate(r["terms"]) if t["signal"] == "click"]
    present = {t["signal"] for t in r["terms"]}
    options = [s for s in ("completion", "like", "watch_time") if s not in present]
    if not idx or not options:
        return None
    term, why = rng.choice(_TERM_RECIPES[rng.choice(options)])
    terms = list(r["terms"])
    terms[idx[0]] = dict(term)
    r["terms"] = terms
    return f"replace the click term by {term.get('transform', 'identity')}({term['signal']}): clicks reward clickbait; {why}"


def _rew_loss(rng: random.Random, phi: dict[str, Any]) -> str | None:
    r = phi["reward"]
    r["loss"] = "mse" if r.get("loss", "bce") == "bce" else "bce"
    if r["loss"] == "mse":
        return "train the label by regression (mse) so graded signals are not clamped to [0, 1]"
    return "train the label with bce: a soft label is better calibrated than regression"


_REWARD_OPS: dict[str, _Operator] = {
    "add_term": _rew_add,
    "reweight": _rew_reweight,
    "remove_term": _rew_remove,
    "replace_click": _rew_replace_click,
    "loss": _rew_loss,
}

_OPERATORS: dict[Persona, dict[str, _Operator]] = {
    Persona.OPTIMIZER: _OPTIMIZER_OPS,
    Persona.ARCHITECTURE: _ARCHITECTURE_OPS,
    Persona.REWARD: _REWARD_OPS,
}


def _proposing(persona: Persona | str) -> Persona:
    who = persona_of(persona)
    if who not in PROPOSERS:
        raise ProposalError(f"the {who.title} persona does not propose deltas")
    return who


def _finish(
    baseline: Phi, candidate: dict[str, Any], section: str
) -> tuple[list[dict[str, Any]], Phi] | None:
    """The delta from the baseline to ``candidate`` if it is valid and stays in ``section``."""
    base = baseline.to_json()
    delta = diff(base, candidate)
    if not delta or not _section_only(delta, section):
        return None
    try:
        return delta, apply_delta(baseline, delta)
    except InvalidDelta:
        return None


def _pointer(doc: Any, path: str) -> Any:
    for token in path.lstrip("/").split("/") if path else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, list):
            doc = doc[int(token)] if token.isdigit() and int(token) < len(doc) else None
        elif isinstance(doc, dict):
            doc = doc.get(token)
        else:
            return None
    return doc


def _keeps(base: dict[str, Any], parent: dict[str, Any], candidate: dict[str, Any]) -> bool:
    """Whether ``candidate`` keeps every change ``parent`` made to ``base``: the same choice for
    categorical values, any value other than the baseline's for numbers."""
    for op in diff(base, parent):
        want, got = _pointer(parent, op["path"]), _pointer(candidate, op["path"])
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (want, got))
        if numeric and got == _pointer(base, op["path"]):
            return False
        if not numeric and got != want:
            return False
    return True


# ---------------------------------------------------------------------------- builtin


_GOOD = {
    Status.PROXY_BETTER,
    Status.PROPOSED,
    Status.VALIDATED,
    Status.TRAINING,
    Status.TRAINED,
    Status.LIVE,
    Status.LAUNCHED,
}
_BAD = {Status.PROXY_WORSE, Status.REJECTED, Status.FAILED, Status.NOT_LAUNCHED, Status.ABORTED}


class BuiltinProposer(Proposer):
    """The built-in offline proposer: a journal-aware search heuristic over Φ (no model).

    Each call picks mutation operators for the persona's section — weighted by how the
    fields they change fared in the journal — and, with probability ``exploit``, starts from
    one of the best PROXY_BETTER/LAUNCHED deltas so far (refining it, or combining it with
    another win) instead of from the baseline. It never emits a delta already in the
    journal (or emitted before by this object), and every delta applies, validates and
    passes the deterministic linter.
    """

    name = "builtin"

    def __init__(self, seed: int = 0, *, exploit: float = 0.4, max_attempts: int = 300) -> None:
        self.rng = random.Random(seed)
        self.exploit = exploit
        self.max_attempts = max_attempts
        self._emitted: set[str] = set()

    def propose(
        self,
        persona: Persona | str,
        *,
        baseline_phi: Phi,
        journal: Any = None,
        history_text: str | None = None,
        error_feedback: str | None = None,
    ) -> Proposal:
        who = _proposing(persona)
        section = who.section
        assert section is not None
        records = _records(journal)
        seen = self._emitted | {delta_key(r.delta) for r in records}
        mine = [r for r in records if r.persona == who.value or _section_only(r.delta, section)]
        weights = self._operator_weights(who, mine)
        best = sorted(
            (
                r
                for r in mine
                if r.status in _GOOD
                and (r.improvement or 0.0) > 0
                and _section_only(r.delta, section)
            ),
            key=lambda r: -(r.improvement or 0.0),
        )[:3]
        base = baseline_phi.to_json()
        for attempt in range(self.max_attempts):
            start, parents, story = base, [], []
            if best and self.rng.random() < self.exploit:
                start, parents, story = self._from_best(baseline_phi, best)
            candidate = copy.deepcopy(start)
            n_ops = 1 + (attempt // 60) + (1 if not parents and self.rng.random() < 0.2 else 0)
            names = self._choose(weights, n_ops)
            lines = [
                op_line for name in names if (op_line := _OPERATORS[who][name](self.rng, candidate))
            ]
            if parents and not lines and len(parents) < 2:
                continue
            if parents and not _keeps(base, start, candidate):
                continue  # a refinement must not undo what made its parent win
            finished = _finish(baseline_phi, candidate, section)
            if finished is None:
                continue
            delta, phi_after = finished
            key = delta_key(delta)
            if key in seen:
                continue
            if not lint_delta(who, baseline_phi, phi_after, delta).ok:
                continue
            self._emitted.add(key)
            text = "; ".join(story + lines)
            hypothesis = text[0].upper() + text[1:] + "."
            return Proposal(
                hypothesis=hypothesis,
                delta=delta,
                meta={"proposer": self.name, "operators": names, "parents": parents},
            )
        raise ProposalError(
            f"the built-in proposer found no new valid delta for {who.value} in {self.max_attempts} attempts"
        )

    def _operator_weights(self, who: Persona, records: list[ExperimentRecord]) -> dict[str, float]:
        """Operators whose fields improved the proxy before weigh more; failed ones less."""
        wins: dict[str, int] = {}
        losses: dict[str, int] = {}
        for r in records:
            fields = {
                str(op.get("path", "")).split("/")[2]
                for op in r.delta
                if str(op.get("path", "")).count("/") >= 2
            }
            good = r.status in _GOOD and (r.improvement or 0.0) > 0
            bad = r.status in _BAD
            for f in fields:
                if good:
                    wins[f] = wins.get(f, 0) + 1
                elif bad:
                    losses[f] = losses.get(f, 0) + 1
        alias = {
            "algorithm_params": ("initial_accumulator", "beta2", "rho", "momentum"),
            "depth": ("tower_widths",),
            "add_term": ("terms",),
            "reweight": ("terms",),
            "remove_term": ("terms",),
            "replace_click": ("terms",),
        }
        weights = {}
        for name in _OPERATORS[who]:
            fields = alias.get(name, (name,))
            w = sum(wins.get(f, 0) for f in fields)
            lo = sum(losses.get(f, 0) for f in fields)
            weights[name] = max(0.2, (1.0 + w) / (1.0 + 0.5 * lo))
        return weights

    def _choose(self, weights: dict[str, float], n: int) -> list[str]:
        names = list(weights)
        chosen: list[str] = []
        for _ in range(min(n, len(names))):
            pool = [x for x in names if x not in chosen]
            chosen.append(self.rng.choices(pool, weights=[weights[x] for x in pool])[0])
        return chosen

    def _from_best(
        self, baseline: Phi, best: list[ExperimentRecord]
    ) -> tuple[dict[str, Any], list[str], list[str]]:
        """Start from a winner (refine it) or from two winners combined."""
        first = best[0] if self.rng.random() < 0.6 else self.rng.choice(best)
        try:
            phi = apply_delta(baseline, first.delta).to_json()
        except InvalidDelta:
            return baseline.to_json(), [], []
        imp = first.improvement or 0.0
        story = [
            f"build on {first.id} (proxy improvement {imp:+.4g}: {first.hypothesis.rstrip('.')})"
        ]
        others = [r for r in best if r.id != first.id]
        if others and self.rng.random() < 0.4:
            second = self.rng.choice(others)
            try:
                combined = apply_delta(Phi.model_validate(phi), second.delta).to_json()
            except InvalidDelta:
                return phi, [first.id], story
            story.append(f"combined with {second.id} ({second.hypothesis.rstrip('.')})")
            return combined, [first.id, second.id], story
        story.append("then refine it")
        return phi, [first.id], story


# ----------------------------------------------------------------------------- random


class RandomProposer(Proposer):
    """Random search: one or two of the built-in operators, chosen uniformly; no journal."""

    name = "random"

    def __init__(self, seed: int = 0, *, max_attempts: int = 200) -> None:
        self.rng = random.Random(seed)
        self.max_attempts = max_attempts

    def propose(
        self,
        persona: Persona | str,
        *,
        baseline_phi: Phi,
        journal: Any = None,
        history_text: str | None = None,
        error_feedback: str | None = None,
    ) -> Proposal:
        who = _proposing(persona)
        assert who.section is not None
        ops = _OPERATORS[who]
        for _ in range(self.max_attempts):
            candidate = baseline_phi.to_json()
            names = self.rng.sample(list(ops), k=self.rng.choice((1, 2)))
            lines = [line for name in names if (line := ops[name](self.rng, candidate))]
            finished = _finish(baseline_phi, candidate, who.section)
            if finished is None:
                continue
            return Proposal(
                hypothesis="Random search: " + "; ".join(lines) + ".",
                delta=finished[0],
                meta={"proposer": self.name, "operators": names},
            )
        raise ProposalError(f"random search found no valid delta for {who.value}")


# ----------------------------------------------------------------------------- optuna


def _r(x: float) -> float:
    """Four significant digits: readable deltas and hypotheses."""
    return float(f"{x:.4g}")


def _suggest_optimizer(trial: Any, base: dict[str, Any]) -> dict[str, Any]:
    s = dict(base["optimizer"])
    algo = trial.suggest_categorical("algorithm", list(_ALGORITHMS))
    s["algorithm"] = algo
    s["learning_rate"] = _r(trial.suggest_float("learning_rate", 1e-4, 0.3, log=True))
    s["schedule"] = trial.suggest_categorical(
        "schedule", ["constant", "cosine", "linear", "exponential"]
    )
    if s["schedule"] in ("cosine", "linear"):
        s["min_lr_ratio"] = _r(trial.suggest_float("min_lr_ratio", 0.0, 0.2))
    elif s["schedule"] == "exponential":
        s["decay_rate"] = _r(trial.suggest_float("decay_rate", 0.5, 0.99))
    s["warmup_steps"] = trial.suggest_categorical("warmup_steps", [0, 50, 100, 200, 500])
    s["grad_clip_norm"] = trial.suggest_categorical("grad_clip_norm", [None, 0.5, 1.0, 5.0])
    s["weight_decay"] = trial.suggest_categorical("weight_decay", [0.0, 1e-5, 1e-4, 1e-3])
    s["nesterov"] = False
    if algo == "sgd":
        s["momentum"] = _r(trial.suggest_float("momentum", 0.0, 0.95))
        s["nesterov"] = s["momentum"] > 0 and trial.suggest_categorical("nesterov", [False, True])
    elif algo == "rmsprop":
        s["rho"] = _r(trial.suggest_float("rho", 0.8, 0.999))
    elif algo in ("adam", "adamw"):
        s["beta2"] = trial.suggest_categorical("beta2", [0.98, 0.99, 0.999])
    else:
        s["initial_accumulator"] = _r(
            trial.suggest_float("initial_accumulator", 0.01, 1.0, log=True)
        )
    return {**base, "optimizer": s}


def _suggest_architecture(trial: Any, base: dict[str, Any]) -> dict[str, Any]:
    a = dict(base["architecture"])
    a["embedding_dim"] = trial.suggest_categorical("embedding_dim", [8, 16, 32, 64])
    depth = trial.suggest_int("depth", 1, 4)
    width = trial.suggest_categorical("width", [32, 64, 128, 256])
    shrink = trial.suggest_categorical("shrink", [1.0, 0.5])
    a["tower_widths"] = [max(8, int(width * shrink**i)) for i in range(depth)]
    a["activation"] = trial.suggest_categorical("activation", ["relu", "gelu", "silu", "tanh"])
    a["normalization"] = trial.suggest_categorical(
        "normalization", ["none", "layernorm", "batchnorm"]
    )
    a["dropout"] = trial.suggest_categorical("dropout", [0.0, 0.05, 0.1, 0.2, 0.3])
    gated = trial.suggest_categorical("gated_hidden", [0, 16, 32, 64])
    a["gated_path"] = (
        {
            "hidden": gated,
            "gate_activation": trial.suggest_categorical(
                "gate_activation", ["sigmoid", "gelu", "silu"]
            ),
        }
        if gated
        else None
    )
    cross = trial.suggest_categorical("cross_count", [0, 1, 2, 3])
    a["cross_layers"] = (
        {"count": cross, "low_rank": trial.suggest_categorical("low_rank", [None, 8, 32])}
        if cross
        else None
    )
    heads = []
    for signal in ("completion", "like", "dismiss", "watch_time"):
        w = trial.suggest_categorical(f"aux_{signal}", [0.0, 0.1, 0.3, 1.0])
        if w > 0:
            heads.append({"signal": signal, "weight": w})
    a["aux_heads"] = heads
    return {**base, "architecture": a}


def _suggest_reward(trial: Any, base: dict[str, Any]) -> dict[str, Any]:
    terms = []
    for signal, low, high, extra in (
        ("click", 0.0, 2.0, {}),
        ("completion", 0.0, 2.0, {}),
        ("like", 0.0, 3.0, {}),
        ("dismiss", -3.0, 0.0, {}),
        ("watch_time", 0.0, 0.5, {"transform": "log1p"}),
        ("survey", 0.0, 1.0, {"transform": "threshold", "param": 4.0}),
    ):
        w = round(trial.suggest_float(f"w_{signal}", low, high), 3)
        if abs(w) >= 0.05:
            terms.append({"signal": signal, "weight": w, **extra})
    if not any(t["weight"] > 0 for t in terms):
        terms.append({"signal": "click", "weight": 1.0})
    loss = trial.suggest_categorical("loss", ["bce", "mse"])
    return {**base, "reward": {"terms": terms, "loss": loss}}


_SPACES = {
    Persona.OPTIMIZER: _suggest_optimizer,
    Persona.ARCHITECTURE: _suggest_architecture,
    Persona.REWARD: _suggest_reward,
}

# The inverse of each space: from a Φ section, the parameter values that would rebuild it.
# They may offer parameters the space does not ask for (FixedTrial ignores those); whether
# the answer really rebuilds the section is checked by replaying the space (``_replay``).

_AUX_SIGNALS = ("completion", "like", "dismiss", "watch_time")
_REWARD_SIGNALS = ("click", "completion", "like", "dismiss", "watch_time", "survey")


def _params_optimizer(s: dict[str, Any]) -> dict[str, Any] | None:
    names = (
        "algorithm",
        "learning_rate",
        "schedule",
        "min_lr_ratio",
        "decay_rate",
        "warmup_steps",
        "grad_clip_norm",
        "weight_decay",
        "momentum",
        "nesterov",
        "rho",
        "beta2",
        "initial_accumulator",
    )
    return {name: s.get(name) for name in names}


def _params_architecture(a: dict[str, Any]) -> dict[str, Any] | None:
    widths = list(a.get("tower_widths") or [])
    if not widths:
        return None
    gated = a.get("gated_path") or {}
    cross = a.get("cross_layers") or {}
    heads: dict[str, float] = {}
    for head in a.get("aux_heads") or []:
        if head["signal"] in heads:
            return None
        heads[head["signal"]] = head["weight"]
    return {
        "embedding_dim": a.get("embedding_dim"),
        "depth": len(widths),
        "width": widths[0],
        "shrink": 1.0 if len(set(widths)) == 1 else 0.5,
        "activation": a.get("activation"),
        "normalization": a.get("normalization"),
        "dropout": a.get("dropout"),
        "gated_hidden": gated.get("hidden", 0),
        "gate_activation": gated.get("gate_activation", "sigmoid"),
        "cross_count": cross.get("count", 0),
        "low_rank": cross.get("low_rank"),
        **{f"aux_{signal}": heads.get(signal, 0.0) for signal in _AUX_SIGNALS},
    }


def _params_reward(r: dict[str, Any]) -> dict[str, Any] | None:
    weights: dict[str, float] = {}
    for term in r.get("terms") or []:
        if term["signal"] in weights:
            return None
        weights[term["signal"]] = term["weight"]
    return {
        **{f"w_{signal}": weights.get(signal, 0.0) for signal in _REWARD_SIGNALS},
        "loss": r.get("loss"),
    }


_INVERSES: dict[Persona, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    Persona.OPTIMIZER: _params_optimizer,
    Persona.ARCHITECTURE: _params_architecture,
    Persona.REWARD: _params_reward,
}


def _canonical(section: Any) -> Any:
    """A section with its unordered lists (reward terms, auxiliary heads) sorted."""
    if isinstance(section, dict):
        out = {k: _canonical(v) for k, v in section.items()}
        for name in ("terms", "aux_heads"):
            if isinstance(out.get(name), list):
                out[name] = sorted(out[name], key=lambda x: json.dumps(x, sort_keys=True))
        return out
    if isinstance(section, list):
        return [_canonical(v) for v in section]
    return section


def _section_key(phi: Phi, section: str) -> str:
    """Canonical text of Φ's section: two configurations the study cannot tell apart agree."""
    return json.dumps(_canonical(phi.to_json()[section]), sort_keys=True)


def _close(a: Any, b: Any) -> bool:
    """Equal, with floats compared to four significant digits (the space rounds to those)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool | type(None)):
        if isinstance(b, bool):
            return False
        return math.isclose(float(a), float(b), rel_tol=1e-3, abs_tol=1e-9)
    return type(a) is type(b) and a == b


def _replay(
    who: Persona, baseline: Phi, target: Phi
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The study's parameters and distributions for ``target``'s section, or None.

    None when the section is not in the persona's search space: a field the space does not
    search differs from ``baseline``'s, or a value lies outside its distribution.
    """
    import warnings

    from optuna.distributions import CategoricalDistribution
    from optuna.trial import FixedTrial

    section = who.section
    assert section is not None
    params = _INVERSES[who](target.to_json()[section])
    if params is None:
        return None
    fixed = FixedTrial(params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FixedTrial warns on values out of range
            rebuilt = Phi.model_validate(_SPACES[who](fixed, baseline.to_json()))
    except (EvorecError, ValueError, TypeError, KeyError):  # pydantic errors are ValueErrors
        return None
    if not _close(_canonical(rebuilt.to_json()[section]), _canonical(target.to_json()[section])):
        return None
    values: dict[str, Any] = {}
    for name, dist in fixed.distributions.items():
        value = fixed.params[name]
        try:
            internal = dist.to_internal_repr(value)
        except (ValueError, TypeError):
            return None  # not one of the choices
        if not isinstance(dist, CategoricalDistribution) and not (dist.low <= value <= dist.high):
            return None
        values[name] = dist.to_external_repr(internal)
    return values, dict(fixed.distributions)


def _objective(record: ExperimentRecord) -> float | None:
    """The value ``observe`` would have told for ``record`` (minimised), or None.

    The offline graph tells compute_loss's ``loss`` for the Optimizer and Architecture and
    ``-improvement`` for the Reward persona's correlation screen; the journal's proxy
    result keeps both. Rejected and failed experiments, and proxy results with an error,
    have none.
    """
    proxy = record.proxy_result
    if record.status in (Status.DRAFT, Status.REJECTED) or not proxy or proxy.get("error"):
        return None
    loss = proxy.get("loss")
    if isinstance(loss, int | float) and not isinstance(loss, bool) and math.isfinite(loss):
        return float(loss)
    improvement = record.improvement
    return None if improvement is None else -improvement


class OptunaProposer(Proposer):
    """Optuna's TPE sampler over the numeric and categorical fields of the persona's section.

    One study per persona, driven through ask/tell: ``propose`` asks for a trial and turns it
    into a delta; ``observe(proposal, loss)`` tells the study the proxy loss (minimised;
    ``None`` marks the trial failed). A trial whose configuration does not validate is told
    failed at once and another is asked for.

    **Warm start.** Each ``propose`` first adds the journal's experiments of the persona
    that it has not seen yet to the study as completed trials, so a proposer rebuilt after
    a resume, or in a later campaign round, continues the search instead of starting it
    again. An experiment is added when its delta touches only the persona's section, the
    resulting section lies in the search space, and its proxy result has a value (the
    proxy ``loss``, else ``-improvement``: what ``observe`` is told). Records hold only the
    parent Φ's hash, so each delta is applied to the ``baseline_phi`` being searched around
    — the same as its parent's unless production changed since; fields the delta did not
    touch take the current baseline's values. Rejected and failed experiments are not
    added (TPE ignores failed trials), and experiments this object proposed itself are
    left to ``observe``; each journal experiment is added at most once.

    **No repeats.** A trial whose section equals one already in the journal (or already
    proposed by this object) is told failed and another is asked for.
    """

    name = "optuna"

    def __init__(self, seed: int = 0, *, max_attempts: int = 100) -> None:
        self.seed = seed
        self.max_attempts = max_attempts
        self._studies: dict[Persona, Any] = {}
        self._trials: dict[int, tuple[Persona, Any]] = {}
        self._next = 0
        self._synced: dict[Persona, set[str]] = {}
        """Per persona, the journal experiments already considered for the study."""
        self._own: set[str] = set()
        """Delta keys this object proposed (their values arrive through ``observe``)."""
        self._emitted: dict[Persona, set[str]] = {}
        """Per persona, the section keys this object proposed."""
        self._applied: dict[tuple[str, str], Phi | None] = {}
        """(baseline hash, experiment id) -> the experiment's delta applied to that baseline."""

    def _study(self, who: Persona) -> Any:
        if who not in self._studies:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            sampler = optuna.samplers.TPESampler(seed=self.seed + list(Persona).index(who))
            self._studies[who] = optuna.create_study(direction="minimize", sampler=sampler)
        return self._studies[who]

    def _apply(self, baseline: Phi, base_hash: str, record: ExperimentRecord) -> Phi | None:
        key = (base_hash, record.id)
        if key not in self._applied:
            try:
                self._applied[key] = apply_delta(baseline, record.delta) if record.delta else None
            except InvalidDelta:
                self._applied[key] = None
        return self._applied[key]

    def warm_start(self, persona: Persona | str, *, baseline_phi: Phi, journal: Any) -> int:
        """Add the journal's not yet seen experiments of ``persona`` to its study as completed
        trials (see the class docstring); returns how many were added."""
        import optuna

        who = _proposing(persona)
        section = who.section
        assert section is not None
        study = self._study(who)
        synced = self._synced.setdefault(who, set())
        base_hash = baseline_phi.content_hash()
        added = 0
        for record in _records(journal):
            if record.id in synced or record.status is Status.DRAFT:
                continue  # a DRAFT may still get its proxy result
            synced.add(record.id)
            if record.persona not in (who.value, None) or not _section_only(record.delta, section):
                continue
            if delta_key(record.delta) in self._own:
                continue
            value = _objective(record)
            if value is None:
                continue
            phi = self._apply(baseline_phi, base_hash, record)
            replayed = None if phi is None else _replay(who, baseline_phi, phi)
            if replayed is None:
                continue
            params, distributions = replayed
            study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=distributions,
                    value=value,
                    user_attrs={"experiment_id": record.id, "source": "journal"},
                )
            )
            added += 1
        return added

    def _seen(self, who: Persona, baseline_phi: Phi, records: list[ExperimentRecord]) -> set[str]:
        """Section keys of the journal's experiments (on this baseline) and of our proposals."""
        section = who.section
        assert section is not None
        base_hash = baseline_phi.content_hash()
        seen = set(self._emitted.get(who, ()))
        for record in records:
            if any(str(op.get("path", "")).startswith(f"/{section}/") for op in record.delta):
                phi = self._apply(baseline_phi, base_hash, record)
                if phi is not None:
                    seen.add(_section_key(phi, section))
        return seen

    def propose(
        self,
        persona: Persona | str,
        *,
        baseline_phi: Phi,
        journal: Any = None,
        history_text: str | None = None,
        error_feedback: str | None = None,
    ) -> Proposal:
        import optuna

        who = _proposing(persona)
        assert who.section is not None
        study = self._study(who)
        records = _records(journal)
        added = self.warm_start(who, baseline_phi=baseline_phi, journal=records)
        seen = self._seen(who, baseline_phi, records)
        journaled = {delta_key(r.delta) for r in records}
        repeats = 0
        for _ in range(self.max_attempts):
            trial = study.ask()
            candidate = _SPACES[who](trial, baseline_phi.to_json())
            finished = _finish(baseline_phi, candidate, who.section)
            if finished is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            delta, phi_after = finished
            key = _section_key(phi_after, who.section)
            if key in seen or delta_key(delta) in journaled:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                repeats += 1
                continue
            self._emitted.setdefault(who, set()).add(key)
            self._own.add(delta_key(delta))
            token = self._next
            self._next += 1
            self._trials[token] = (who, trial)
            lines = render_delta(delta, baseline_phi).splitlines()
            return Proposal(
                hypothesis=f"TPE trial {trial.number} over the {who.section} section: "
                + "; ".join(lines),
                delta=delta,
                meta={
                    "proposer": self.name,
                    "trial": trial.number,
                    "token": token,
                    "warm_started": added,
                    "repeats_skipped": repeats,
                },
            )
        raise ProposalError(
            f"Optuna found no new valid configuration for {who.value} in {self.max_attempts} "
            f"trials ({repeats} repeated a journaled one)"
        )

    def observe(self, proposal: Proposal, value: float | None) -> None:
        """Tell the trial behind ``proposal`` its proxy loss (None or non-finite: failed)."""
        import optuna

        token = proposal.meta.get("token")
        if token not in self._trials:
            return
        who, trial = self._trials.pop(token)
        study = self._study(who)
        if value is None or not math.isfinite(float(value)):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, float(value))


# -------------------------------------------------------------------------------- LLM


class PatchOperation(BaseModel):
    """One RFC 6902 operation, as a model writes it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    op: Literal["add", "remove", "replace", "move", "copy", "test"] = Field(
        description="The operation: add, remove or replace (move, copy and test are rarely needed)."
    )
    path: str = Field(description="JSON Pointer of the target, e.g. /optimizer/learning_rate.")
    value_json: str | None = Field(
        default=None,
        description=(
            'The new value as JSON text, e.g. 0.001, "adam", [128, 64] or {"hidden": 32}; '
            "required for add, replace and test, omitted for remove."
        ),
    )
    from_path: str | None = Field(default=None, description="Source pointer for move and copy.")

    def to_op(self) -> dict[str, Any]:
        """The plain RFC 6902 operation (value parsed from JSON; bare text kept as a string)."""
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.value_json is not None:
            try:
                out["value"] = json.loads(self.value_json)
            except json.JSONDecodeError:
                out["value"] = self.value_json
        if self.from_path is not None:
            out["from"] = self.from_path
        return out


class ProposalModel(BaseModel):
    """What the model answers: a hypothesis and the delta that tests it."""

    model_config = ConfigDict(extra="forbid")

    hypothesis: str = Field(description="What changes, why it should help, what would refute it.")
    delta: list[PatchOperation] = Field(description="RFC 6902 JSON Patch against the baseline Φ.")

    def to_proposal(self, **meta: Any) -> Proposal:
        """The back-end-neutral :class:`Proposal`."""
        return Proposal(
            hypothesis=self.hypothesis.strip(), delta=[op.to_op() for op in self.delta], meta=meta
        )


class LLMProposer(Proposer):
    """A LangChain chat model as a persona: persona context in, structured proposal out."""

    def __init__(
        self,
        chat_model: Any,
        *,
        name: str | None = None,
        history_mode: str = "sorted",
        steering: str | None = None,
        guardrails: Any = None,
    ) -> None:
        self.chat_model = chat_model
        self.name = (
            name
            or getattr(chat_model, "model", None)
            or getattr(chat_model, "model_name", None)
            or "llm"
        )
        self.history_mode = history_mode
        self.steering = steering
        self.guardrails = guardrails

    def messages(
        self,
        persona: Persona | str,
        *,
        baseline_phi: Phi,
        journal: Any = None,
        history_text: str | None = None,
        error_feedback: str | None = None,
    ) -> list[Any]:
        """The chat messages for one proposal (the persona's context, then any repair request)."""
        from langchain_core.messages import HumanMessage

        from evorec.personas.context import build_context

        who = _proposing(persona)
        if history_text is None:
            history_text = (
                journal.render_history(self.history_mode, persona=who.value)
                if hasattr(journal, "render_history")
                else ""
            )
        text = build_context(
            who,
            baseline_phi=baseline_phi,
            journal_text=history_text,
            steering=self.steering,
            guardrails=self.guardrails,
        )
        if error_feedback:
            text += (
                "\n# Repair\n\nYour previous proposal failed verification with this error:\n\n"
                f"{error_feedback.strip()}\n\nReturn a corrected hypothesis and delta that fix it.\n"
            )
        return [HumanMessage(content=text)]

    def propose(
        self,
        persona: Persona | str,
        *,
        baseline_phi: Phi,
        journal: Any = None,
        history_text: str | None = None,
        error_feedback: str | None = None,
    ) -> Proposal:
        from pydantic import ValidationError

        messages = self.messages(
            persona,
            baseline_phi=baseline_phi,
            journal=journal,
            history_text=history_text,
            error_feedback=error_feedback,
        )
        structured = self.chat_model.with_structured_output(ProposalModel)
        try:
            answer = structured.invoke(messages)
        except (ValidationError, ValueError) as exc:
            raise ProposalError(f"the model's answer is not a valid proposal: {exc}") from None
        if answer is None:
            raise ProposalError("the model returned no proposal")
        if not isinstance(answer, ProposalModel):
            try:
                answer = ProposalModel.model_validate(answer)
            except ValidationError as exc:
                raise ProposalError(f"the model's answer is not a valid proposal: {exc}") from None
        return answer.to_proposal(proposer=self.name)
