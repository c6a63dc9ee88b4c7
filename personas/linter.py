"""The Linter persona's rules, deterministic: what a schema cannot catch about a delta.

Used when no language model is present (and as a floor under one). A delta reaching the
linter already applies and validates as Φ; these rules check its *meaning*: ownership of
sections, changes without effect, implausible steps, degenerate label logic and size blow-ups.
``prompts/linter.md`` describes the same checks to a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evorec.personas.catalog import Persona, persona_of
from evorec.personas.context import Guardrails

__all__ = ["LintVerdict", "lint_delta"]

_BINARY = ("click", "like", "dismiss")
#: Largest value each bounded signal takes (watch_time is unbounded seconds).
_SIGNAL_MAX = {"click": 1.0, "like": 1.0, "dismiss": 1.0, "completion": 1.0, "survey": 5.0}
_OWNED = ("optimizer", "architecture", "reward")


@dataclass(frozen=True)
class LintVerdict:
    """The linter's answer: ``ok`` when ``problems`` is empty."""

    ok: bool
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the journal stores it."""
        return {"ok": self.ok, "problems": list(self.problems)}


def _json(phi: Any) -> dict[str, Any]:
    return phi.to_json() if hasattr(phi, "to_json") else dict(phi)


def _top(path: Any) -> str:
    text = str(path or "")
    return text.split("/")[1] if text.startswith("/") and text.count("/") >= 1 else text


def _changed_paths(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    from evorec.delta import diff

    return [op["path"] for op in diff(before, after)]


def lint_delta(
    persona: Persona | str | None,
    phi_before: Any,
    phi_after: Any,
    delta: Sequence[Mapping[str, Any]],
    *,
    guardrails: Guardrails | Mapping[str, Any] | None = None,
) -> LintVerdict:
    """Check a delta's meaning. ``persona`` is its author (None for a human: no ownership rule).

    ``phi_before`` and ``phi_after`` are Φ (or its JSON) before and after the delta.
    """
    guard = Guardrails.coerce(guardrails)
    before, after = _json(phi_before), _json(phi_after)
    author = persona_of(persona) if persona is not None else None
    problems: list[str] = []

    # Ownership.
    if author is not None and author is not Persona.LINTER:
        for index, op in enumerate(delta):
            for member in ("path", "from"):
                if member in op and _top(op[member]) != author.section:
                    problems.append(
                        f"operation {index} {member} {op[member]!r} is outside /{author.section}, "
                        f"the only section the {author.title} persona may change"
                    )
    changed = _changed_paths(before, after)
    for path in changed:
        if _top(path) not in _OWNED:
            problems.append(f"{path}: /training and /constraints are not changed by proposals")
    if not changed:
        problems.append("the delta does not change Φ")
        return LintVerdict(ok=False, problems=problems)

    touched = {_top(p) for p in changed}
    if "optimizer" in touched:
        problems += _optimizer_rules(before, after, changed, guard)
    if "architecture" in touched:
        problems += _architecture_rules(before, after, guard)
    if "reward" in touched or any(p.startswith("/architecture/aux_heads") for p in changed):
        problems += _reward_rules(after, check_terms="reward" in touched)
    return LintVerdict(ok=not problems, problems=problems)


def _optimizer_rules(
    before: dict[str, Any], after: dict[str, Any], changed: list[str], guard: Guardrails
) -> list[str]:
    problems = []
    opt, old = after["optimizer"], before["optimizer"]
    algo, schedule = opt["algorithm"], opt.get("schedule", "constant")
    no_effect = {
        "momentum": (algo in ("sgd", "rmsprop"), "momentum only acts for sgd and rmsprop"),
        "rho": (algo == "rmsprop", "rho only acts for rmsprop"),
        "beta1": (algo in ("adam", "adamw"), "beta1 only acts for adam and adamw"),
        "beta2": (algo in ("adam", "adamw"), "beta2 only acts for adam and adamw"),
        "initial_accumulator": (algo == "adagrad", "initial_accumulator only acts for adagrad"),
        "min_lr_ratio": (
            schedule in ("cosine", "linear"),
            "min_lr_ratio only acts for cosine and linear schedules",
        ),
        "decay_rate": (
            schedule == "exponential",
            "decay_rate only acts for the exponential schedule",
        ),
    }
    for path in changed:
        name = path.removeprefix("/optimizer/")
        if name in no_effect and not no_effect[name][0]:
            problems.append(
                f"{path} has no effect with algorithm {algo!r}, schedule {schedule!r}: {no_effect[name][1]}"
            )
    lr_old, lr_new = float(old["learning_rate"]), float(opt["learning_rate"])
    ratio = max(lr_new / lr_old, lr_old / lr_new)
    if ratio > guard.max_lr_factor:
        problems.append(
            f"/optimizer/learning_rate changed {ratio:.0f}× ({lr_old:g} → {lr_new:g}); "
            f"at most {guard.max_lr_factor:g}× in one step"
        )
    max_steps = after["training"].get("max_steps")
    warmup = int(opt.get("warmup_steps") or 0)
    if max_steps and warmup >= max_steps:
        problems.append(
            f"/optimizer/warmup_steps {warmup} ≥ /training/max_steps {max_steps}: training never leaves warm-up"
        )
    return problems


def _tower_weights(arch: dict[str, Any]) -> int:
    """A lower bound on the tower's weights: input (3 embeddings) through every hidden layer."""
    widths = [3 * int(arch["embedding_dim"]), *map(int, arch["tower_widths"]), 1]
    return sum(a * b for a, b in zip(widths, widths[1:], strict=False))


def _architecture_rules(
    before: dict[str, Any], after: dict[str, Any], guard: Guardrails
) -> list[str]:
    problems = []
    arch, old = after["architecture"], before["architecture"]
    if arch["embedding_dim"] > guard.max_growth * old["embedding_dim"]:
        problems.append(
            f"/architecture/embedding_dim grew {old['embedding_dim']} → {arch['embedding_dim']} "
            f"(more than {guard.max_growth:g}× in one step)"
        )
    if max(arch["tower_widths"]) > guard.max_growth * max(old["tower_widths"]):
        problems.append(
            f"/architecture/tower_widths grew {old['tower_widths']} → {arch['tower_widths']} "
            f"(a width more than {guard.max_growth:g}× the widest before)"
        )
    limit = guard.max_params if guard.max_params is not None else after["constraints"]["max_params"]
    weights = _tower_weights(arch)
    if weights > limit:
        problems.append(f"the tower alone has ≥ {weights:,} weights, above max_params {limit:,}")
    return problems


def _reward_rules(after: dict[str, Any], *, check_terms: bool) -> list[str]:
    problems = []
    reward = after["reward"]
    terms = reward["terms"]
    weights = {}
    for t in terms:
        weights[t["signal"]] = weights.get(t["signal"], 0.0) + abs(float(t["weight"]))
    for head in after["architecture"].get("aux_heads") or []:
        if head["signal"] in weights and weights[head["signal"]] == 0.0:
            problems.append(
                f"aux head on {head['signal']!r}, a signal the reward gives weight zero: "
                "drop the head or give the term a weight"
            )
    if not check_terms:
        return problems
    if all(float(t["weight"]) == 0.0 for t in terms):
        problems.append("every reward weight is zero: the label is constant")
        return problems
    if reward.get("loss", "bce") == "bce" and not any(float(t["weight"]) > 0 for t in terms):
        problems.append(
            "with bce the label is clamped to [0, 1]; with no positive weight it is always 0"
        )
    seen = set()
    for i, t in enumerate(terms):
        where = f"/reward/terms/{i}"
        signal, transform, param = t["signal"], t.get("transform", "identity"), t.get("param")
        key = (signal, transform, param)
        if key in seen:
            problems.append(f"{where}: the same term ({signal}, {transform}) appears twice")
        seen.add(key)
        if float(t["weight"]) == 0.0:
            problems.append(f"{where}: weight zero, the term has no effect")
        if (
            signal == "watch_time"
            and transform == "identity"
            and reward.get("loss", "bce") == "bce"
        ):
            problems.append(
                f"{where}: raw watch_time (seconds) saturates a bce label clamped to [0, 1]; use log1p or clip"
            )
        top = _SIGNAL_MAX.get(signal)
        if top is not None and param is not None:
            if transform == "threshold" and param > top:
                problems.append(
                    f"{where}: threshold {param:g} is above {signal}'s maximum {top:g}: never fires"
                )
            if transform == "threshold" and param <= 0 and signal in _BINARY:
                problems.append(f"{where}: threshold {param:g} on a 0/1 signal always fires")
            if transform == "clip" and param >= top:
                problems.append(f"{where}: clip at {param:g} never binds ({signal} ≤ {top:g})")
        if signal == "survey" and transform != "threshold":
            fill = float(t.get("fill_missing", 0.0))
            if not 1.0 <= fill <= 5.0:
                problems.append(
                    f"{where}: survey is NULL when not asked; fill_missing {fill:g} is outside its 1..5 "
                    "scale, so 'not asked' reads as an extreme answer"
                )
    return problems
