"""The context a persona's model sees, assembled in the paper's order.

1. persona framing (``prompts/<persona>.md``: who it is, the section it may change, the tool
   that judges it);
2. primary objectives (``prompts/objectives.md``), with the explicit instruction to balance
   exploration, exploitation and structural innovation — without it, agents drift into tiny
   numeric tweaks;
3. optional steering instructions from a human;
4. guardrails with numeric thresholds;
5. the baseline Φ as JSON, with every field's description;
6. the Experiment Journal's history (as rendered by ``Journal.render_history``);

then the answer format. ``build_lint_context`` builds the Linter's review prompt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from evorec.errors import ConfigError
from evorec.personas.catalog import Persona, load_prompt, persona_of

__all__ = [
    "DEFAULT_NORTH_STAR_GUARDRAILS",
    "SECTION_TITLES",
    "Guardrails",
    "build_context",
    "build_lint_context",
]

#: North-star guardrails of the online loop: metric → largest tolerated relative drop of the
#: treatment against the control during an A/B test (0.10 = 10 %).
DEFAULT_NORTH_STAR_GUARDRAILS: dict[str, float] = {
    "daily_active_rate": 0.10,
    "daily_satisfaction": 0.15,
}

#: The context's section headings, in order (steering only when given).
SECTION_TITLES = (
    "# Role",
    "# Primary objectives",
    "# Steering",
    "# Guardrails",
    "# Baseline Φ",
    "# Experiment journal",
    "# Your answer",
)


@dataclass(frozen=True)
class Guardrails:
    """Numeric limits stated in the prompt and enforced by the linter and the online loop."""

    max_params: int | None = None
    """Trainable-parameter limit; None = Φ's ``/constraints/max_params``."""
    max_latency_ms_per_1k: float | None = None
    """Scoring latency limit; None = Φ's ``/constraints/max_latency_ms_per_1k``."""
    north_star_max_drop: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_NORTH_STAR_GUARDRAILS)
    )
    """North-star metric → largest tolerated relative drop in an A/B test."""
    max_lr_factor: float = 100.0
    """Largest change of the learning rate, up or down, in one delta."""
    max_growth: float = 4.0
    """Largest growth of the embedding width or a tower width in one delta."""

    @classmethod
    def coerce(cls, value: Guardrails | Mapping[str, Any] | None) -> Guardrails:
        """Accept a ``Guardrails``, a mapping of its fields, or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Guardrails):
            return value
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ConfigError(
                f"unknown guardrail(s) {', '.join(unknown)} (expected {', '.join(sorted(known))})"
            )
        return cls(**dict(value))


def _phi_json(phi: Any) -> dict[str, Any]:
    return phi.to_json() if hasattr(phi, "to_json") else dict(phi)


def _guardrails_text(phi: dict[str, Any], guard: Guardrails) -> str:
    limits = phi.get("constraints", {})
    max_params = guard.max_params if guard.max_params is not None else limits.get("max_params")
    latency = (
        guard.max_latency_ms_per_1k
        if guard.max_latency_ms_per_1k is not None
        else limits.get("max_latency_ms_per_1k")
    )
    lines = ["Hard limits (a candidate breaking one is rejected before training):"]
    if max_params is not None:
        lines.append(f"- trainable parameters ≤ {max_params:,}")
    if latency is not None:
        lines.append(f"- scoring latency ≤ {latency:g} ms per 1,000 candidates")
    lines += [
        f"- learning rate changes by at most {guard.max_lr_factor:g}× (up or down) in one delta",
        f"- embedding and tower widths grow by at most {guard.max_growth:g}× in one delta",
        "- only your own section of Φ changes; /training and /constraints are never changed",
        "",
        "North-star guardrails (an A/B test is aborted when the treatment's metric drops "
        "below the control's by more than this, relative):",
    ]
    for metric, drop in guard.north_star_max_drop.items():
        lines.append(f"- {metric}: must not drop more than {drop:.0%}")
    return "\n".join(lines)


def _fields_text(section: str | None) -> str:
    from evorec.ranker.schema import describe_fields

    rows = []
    for path, kind, desc in describe_fields():
        mark = " [yours]" if section and path.startswith(f"/{section}/") else ""
        rows.append(f"- `{path}` ({kind}){mark}: {desc}")
    return "\n".join(rows)


def _answer_text(persona: Persona) -> str:
    return (
        "Reply with two things:\n"
        "- `hypothesis`: what you change, why it should help, and what result would refute it;\n"
        "- `delta`: an RFC 6902 JSON Patch against the baseline Φ above — a list of operations "
        '`{"op": "add"|"remove"|"replace", "path": "/' + str(persona.section) + '/...", '
        '"value": <JSON>}`. It is applied to Φ and the whole result must validate; use `add` '
        "for an optional block that is null or absent, `replace` for an existing value, and "
        "array indices (`/architecture/tower_widths/0`) or `-` to append."
    )


def build_context(
    persona: Persona | str,
    *,
    baseline_phi: Any,
    journal_text: str,
    steering: str | None = None,
    guardrails: Guardrails | Mapping[str, Any] | None = None,
) -> str:
    """The full prompt for a proposing persona (Optimizer, Architecture or Reward)."""
    who = persona_of(persona)
    if who is Persona.LINTER:
        raise ConfigError("the Linter reviews deltas: use build_lint_context")
    phi = _phi_json(baseline_phi)
    guard = Guardrails.coerce(guardrails)
    objectives = load_prompt("objectives") + (
        f"\n\nYour section is `/{who.section}`; your proposals are judged with the "
        f"`{who.tool}` tool."
    )
    parts = [("# Role", load_prompt(who)), ("# Primary objectives", objectives)]
    if steering and steering.strip():
        parts.append(
            ("# Steering", "Instructions from the team for this run:\n\n" + steering.strip())
        )
    parts += [
        ("# Guardrails", _guardrails_text(phi, guard)),
        (
            "# Baseline Φ",
            "The current production configuration:\n\n```json\n"
            + json.dumps(phi, indent=2, ensure_ascii=False)
            + "\n```\n\nEvery field (JSON Pointer, type and bounds, meaning):\n\n"
            + _fields_text(who.section),
        ),
        (
            "# Experiment journal",
            "Experiments so far (with their proxy and online outcomes):\n\n"
            + (journal_text.strip() or "(no history shown)"),
        ),
        ("# Your answer", _answer_text(who)),
    ]
    return "\n\n".join(f"{title}\n\n{body}" for title, body in parts) + "\n"


def build_lint_context(
    author: Persona | str | None,
    *,
    baseline_phi: Any,
    delta: list[dict[str, Any]],
    guardrails: Guardrails | Mapping[str, Any] | None = None,
) -> str:
    """The Linter's review prompt for ``delta`` proposed by ``author`` against ``baseline_phi``."""
    from evorec.delta import render_delta

    who = persona_of(author).value if author is not None else "a human"
    phi = _phi_json(baseline_phi)
    guard = Guardrails.coerce(guardrails)
    parts = [
        ("# Role", load_prompt(Persona.LINTER)),
        ("# Guardrails", _guardrails_text(phi, guard)),
        (
            "# Baseline Φ",
            "```json\n"
            + json.dumps(phi, indent=2, ensure_ascii=False)
            + "\n```\n\n"
            + _fields_text(None),
        ),
        (
            "# Delta under review",
            f"Proposed by: {who}\n\n```json\n{json.dumps(delta, indent=2)}\n```\n\n"
            + render_delta(delta, phi),
        ),
        ("# Your answer", "Reply with `ok` (true or false) and `problems` (one line each)."),
    ]
    return "\n\n".join(f"{title}\n\n{body}" for title, body in parts) + "\n"
