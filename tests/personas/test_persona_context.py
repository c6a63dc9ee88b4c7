"""Persona prompts (package data) and the context builder's sections and order."""

from __future__ import annotations

import json

import pytest

from evorec.errors import ConfigError
from evorec.personas import (
    PROPOSERS,
    Guardrails,
    Persona,
    build_context,
    build_lint_context,
    load_prompt,
    persona_of,
)
from evorec.ranker.schema import baseline_phi, describe_fields

ORDER = [
    "# Role",
    "# Primary objectives",
    "# Steering",
    "# Guardrails",
    "# Baseline Φ",
    "# Experiment journal",
    "# Your answer",
]


def _positions(text: str, titles: list[str]) -> list[int]:
    return [text.index(f"\n{t}\n") if not text.startswith(t) else 0 for t in titles]


@pytest.mark.parametrize("persona", PROPOSERS)
def test_sections_present_and_in_the_papers_order(persona):
    text = build_context(
        persona,
        baseline_phi=baseline_phi(),
        journal_text="### exp-1 · optimizer · PROXY_BETTER\nhypothesis: JOURNAL-MARKER",
        steering="STEER-MARKER: prefer structural changes",
    )
    positions = _positions(text, ORDER)
    assert positions == sorted(positions)
    assert len(set(positions)) == len(ORDER)
    # the content lands in its own section
    assert positions[2] < text.index("STEER-MARKER") < positions[3]
    assert positions[5] < text.index("JOURNAL-MARKER") < positions[6]
    assert positions[0] < text.index(load_prompt(persona)[:60]) < positions[1]


def test_steering_is_optional():
    text = build_context("optimizer", baseline_phi=baseline_phi(), journal_text="")
    assert "# Steering" not in text
    order = [o for o in ORDER if o != "# Steering"]
    assert _positions(text, order) == sorted(_positions(text, order))
    assert "(no history shown)" in text


def test_objectives_demand_balance_of_exploration_exploitation_and_structure():
    text = build_context("architecture", baseline_phi=baseline_phi(), journal_text="")
    objectives = text[text.index("# Primary objectives") : text.index("# Guardrails")]
    for word in ("exploration", "exploitation", "structural innovation", "tiny numeric tweaks"):
        assert word in objectives


def test_guardrails_carry_numeric_thresholds():
    phi = baseline_phi()
    text = build_context(
        "reward",
        baseline_phi=phi,
        journal_text="",
        guardrails={"north_star_max_drop": {"daily_active_rate": 0.05}, "max_lr_factor": 30},
    )
    rails = text[text.index("# Guardrails") : text.index("# Baseline Φ")]
    assert f"{phi.constraints.max_params:,}" in rails
    assert f"{phi.constraints.max_latency_ms_per_1k:g} ms per 1,000" in rails
    assert "daily_active_rate: must not drop more than 5%" in rails
    assert "30×" in rails
    default = build_context("reward", baseline_phi=phi, journal_text="")
    assert "daily_active_rate: must not drop more than 10%" in default
    with pytest.raises(ConfigError, match="unknown guardrail"):
        build_context("reward", baseline_phi=phi, journal_text="", guardrails={"max_fun": 1})


def test_baseline_phi_is_json_with_every_field_description():
    phi = baseline_phi()
    text = build_context("optimizer", baseline_phi=phi, journal_text="")
    section = text[text.index("# Baseline Φ") : text.index("# Experiment journal")]
    block = section[
        section.index("```json") + 7 : section.index("```", section.index("```json") + 7)
    ]
    assert json.loads(block) == phi.to_json()
    for path, _, desc in describe_fields():
        assert f"`{path}`" in section and desc in section
    assert "`/optimizer/learning_rate` (" in section and "[yours]" in section
    assert "`/reward/loss` (" in section


@pytest.mark.parametrize(
    ("persona", "tool"),
    [
        (Persona.OPTIMIZER, "compute_loss"),
        (Persona.ARCHITECTURE, "compute_loss"),
        (Persona.REWARD, "run_sql_query"),
    ],
)
def test_each_persona_prompt_names_its_section_and_tool(persona, tool):
    prompt = load_prompt(persona)
    assert f"`/{persona.section}`" in prompt
    assert tool in prompt
    others = [p.section for p in PROPOSERS if p is not persona]
    assert all(f"only the `/{o}`" not in prompt for o in others)
    assert persona.tool == tool


def test_reward_prompt_is_about_the_north_star_not_the_loss():
    prompt = load_prompt(Persona.REWARD)
    assert "north star" in prompt and "not by the training loss" in prompt
    assert "fill_missing" in prompt


def test_linter_prompt_describes_semantic_checks():
    prompt = load_prompt(Persona.LINTER)
    for check in (
        "semantic",
        "Ownership",
        "no effect",
        "100×",
        "weight zero",
        "fill_missing",
        "Size blow-ups",
        "max_params",
        "watch_time",
    ):
        assert check in prompt


def test_lint_context_shows_the_delta():
    delta = [{"op": "replace", "path": "/optimizer/algorithm", "value": "adam"}]
    text = build_lint_context("optimizer", baseline_phi=baseline_phi(), delta=delta)
    assert '"adagrad" → "adam"' in text and "Proposed by: optimizer" in text
    assert text.index("# Role") < text.index("# Delta under review") < text.index("# Your answer")


def test_bad_persona_names():
    with pytest.raises(ConfigError, match="unknown persona 'chef'"):
        persona_of("chef")
    with pytest.raises(ConfigError, match="build_lint_context"):
        build_context("linter", baseline_phi=baseline_phi(), journal_text="")
    assert persona_of(" Reward ") is Persona.REWARD
    assert Guardrails.coerce(None) == Guardrails()
