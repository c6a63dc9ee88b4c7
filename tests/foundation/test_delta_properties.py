"""Property-based tests of the delta algebra over generated valid Φ and generated patches."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evorec.delta import apply_delta, apply_patch, diff, json_equal
from evorec.errors import InvalidDelta
from evorec.ranker.schema import SIGNALS, Phi, baseline_phi, load_phi

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _unit(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def phis(draw) -> Phi:
    """Valid Φ drawn across every section, including optional structures."""
    algorithm = draw(st.sampled_from(["adagrad", "rmsprop", "adam", "adamw", "sgd"]))
    momentum = draw(_unit(0.0, 0.99))
    optimizer: dict[str, Any] = {
        "algorithm": algorithm,
        "learning_rate": draw(_unit(1e-5, 1.0)),
        "momentum": momentum,
        "nesterov": algorithm == "sgd" and momentum > 0 and draw(st.booleans()),
        "weight_decay": draw(_unit(0.0, 0.1)),
        "schedule": draw(st.sampled_from(["constant", "cosine", "linear", "exponential"])),
        "warmup_steps": draw(st.integers(0, 1000)),
        "grad_clip_norm": draw(st.none() | _unit(0.1, 10.0)),
    }
    arch: dict[str, Any] = {
        "embedding_dim": draw(st.integers(2, 64)),
        "tower_widths": draw(st.lists(st.integers(4, 256), min_size=1, max_size=4)),
        "activation": draw(st.sampled_from(["relu", "gelu", "silu", "tanh"])),
        "gated_path": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "hidden": st.integers(4, 128),
                    "gate_activation": st.sampled_from(["sigmoid", "gelu", "silu"]),
                }
            )
        ),
        "cross_layers": draw(
            st.none()
            | st.fixed_dictionaries(
                {"count": st.integers(1, 3), "low_rank": st.none() | st.integers(2, 32)}
            )
        ),
        "normalization": draw(st.sampled_from(["none", "layernorm", "batchnorm"])),
        "dropout": draw(_unit(0.0, 0.5)),
        "aux_heads": [
            {"signal": s, "weight": draw(_unit(0.01, 2.0))}
            for s in draw(st.lists(st.sampled_from(SIGNALS), max_size=3, unique=True))
        ],
    }
    terms = []
    for signal in draw(st.lists(st.sampled_from(SIGNALS), min_size=1, max_size=4)):
        transform = draw(st.sampled_from(["identity", "log1p", "clip", "threshold"]))
        term = {"signal": signal, "weight": draw(_unit(-5.0, 5.0)), "transform": transform}
        if transform in ("clip", "threshold"):
            term["param"] = draw(_unit(0.0, 100.0))
        terms.append(term)
    data = {
        "optimizer": optimizer,
        "architecture": arch,
        "reward": {"terms": terms, "loss": draw(st.sampled_from(["bce", "mse"]))},
        "training": {
            "batch_size": draw(st.integers(16, 4096)),
            "epochs": draw(st.integers(1, 5)),
            "max_steps": draw(st.none() | st.integers(1, 10_000)),
            "seed": draw(st.integers(0, 2**31 - 1)),
        },
        "constraints": {
            "max_params": draw(st.integers(1_000, 10_000_000)),
            "max_latency_ms_per_1k": draw(_unit(0.1, 100.0)),
        },
    }
    return load_phi(data)


def _leaves(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf path (JSON Pointer) → value."""
    if isinstance(doc, dict) and doc:
        out: dict[str, Any] = {}
        for k, v in doc.items():
            out.update(_leaves(v, f"{prefix}/{k.replace('~', '~0').replace('/', '~1')}"))
        return out
    if isinstance(doc, list) and doc:
        out = {}
        for i, v in enumerate(doc):
            out.update(_leaves(v, f"{prefix}/{i}"))
        return out
    return {prefix: doc}


def _paths(doc: Any, prefix: str = "") -> list[str]:
    """Every path (inner nodes too)."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, f"{prefix}/{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, f"{prefix}/{i}")
    return out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | _unit(-1e3, 1e3) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def operations(draw, doc: Any) -> dict[str, Any]:
    """One operation, usually aimed at a real path of ``doc``, sometimes at nonsense."""
    paths = _paths(doc)
    path = (
        draw(st.sampled_from(paths) | st.sampled_from(["/nope", "/optimizer/x/y", "bad", "/0"]))
        if paths
        else "/x"
    )
    op = draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]))
    operation: dict[str, Any] = {"op": op, "path": path}
    if op in ("add", "replace", "test"):
        operation["value"] = draw(json_values)
    if op in ("move", "copy"):
        operation["from"] = draw(st.sampled_from(paths or ["/x"]))
    return operation


@st.composite
def doc_and_patch(draw):
    phi = draw(phis())
    doc = phi.to_json()
    patch = draw(st.lists(operations(doc), min_size=1, max_size=4))
    return phi, patch


@SETTINGS
@given(phis(), phis())
def test_round_trip(a, b):
    patch = diff(a.to_json(), b.to_json())
    assert apply_delta(a, patch) == b
    assert json_equal(apply_patch(a.to_json(), patch), b.to_json())
    assert (patch == []) == (a == b)


@SETTINGS
@given(phis(), phis())
def test_diff_is_small(a, b):
    """Only differing leaves appear: no op for a field that is equal in both."""
    la, lb = _leaves(a.to_json()), _leaves(b.to_json())
    changed = {
        p
        for p in la.keys() | lb.keys()
        if p not in la or p not in lb or not json_equal(la[p], lb[p])
    }
    for op in diff(a.to_json(), b.to_json()):
        assert any(c == op["path"] or c.startswith(op["path"] + "/") for c in changed), op


@SETTINGS
@given(doc_and_patch())
def test_generated_patches_never_mutate_and_raise_only_invalid_delta(case):
    phi, patch = case
    base = phi.to_json()
    before_doc, before_patch = json.dumps(base, sort_keys=True), copy.deepcopy(patch)
    try:
        result = apply_delta(base, patch)
    except InvalidDelta:
        result = None
    assert json.dumps(base, sort_keys=True) == before_doc
    assert patch == before_patch
    if result is not None:
        assert isinstance(result, Phi)


@SETTINGS
@given(phis(), st.data())
def test_untouched_fields_are_unchanged(phi, data):
    base = phi.to_json()
    leaves = _leaves(base)
    targets = data.draw(
        st.lists(st.sampled_from(sorted(leaves)), min_size=1, max_size=3, unique=True)
    )
    patch = []
    for path in targets:
        value = leaves[path]
        # A same-typed new value: the result may or may not validate; both are fine.
        if isinstance(value, bool):
            new = not value
        elif isinstance(value, int):
            new = value + data.draw(st.integers(-3, 3))
        elif isinstance(value, float):
            new = value * data.draw(_unit(0.5, 1.5))
        else:
            new = value
        patch.append({"op": "replace", "path": path, "value": new})
    try:
        result = apply_delta(phi, patch).to_json()
    except InvalidDelta:
        return
    after = _leaves(result)
    for path, value in leaves.items():
        if path not in targets:
            assert json_equal(after[path], value), path


BAD_OPS = [
    {"op": "remove", "path": "/optimizer/does_not_exist"},
    {"op": "replace", "path": "/training/nope", "value": 1},
    {"op": "test", "path": "/optimizer/algorithm", "value": "definitely-not"},
    {"op": "add", "path": "/architecture/tower_widths/99", "value": 8},
    {"op": "add", "path": "optimizer", "value": 1},
    {"op": "frobnicate", "path": "/optimizer"},
    {"op": "move", "from": "/optimizer", "path": "/optimizer/algorithm"},
    {"op": "copy", "from": "/missing", "path": "/x"},
    {"op": "replace", "path": "/optimizer/learning_rate"},
    {"op": "replace", "path": "/optimizer/learning_rate", "value": "0.1"},
    {"op": "replace", "path": "/optimizer/learning_rate", "value": -1.0},
    {"op": "add", "path": "/optimizer/hallucinated_field", "value": 3},
    {"op": "remove", "path": "/reward"},
]


@SETTINGS
@given(phis(), st.data())
def test_any_invalid_operation_rejects_the_whole_patch(phi, data):
    base = phi.to_json()
    before = json.dumps(base, sort_keys=True)
    ok_prefix = [
        {"op": "replace", "path": "/training/seed", "value": data.draw(st.integers(0, 1000))}
    ]
    bad = data.draw(st.sampled_from(BAD_OPS))
    suffix = [{"op": "replace", "path": "/training/epochs", "value": 1}]
    try:
        apply_delta(base, ok_prefix + [bad] + suffix)
    except InvalidDelta as exc:
        assert exc.reason
    else:  # pragma: no cover - a bad op must never pass
        raise AssertionError(f"accepted {bad}")
    assert json.dumps(base, sort_keys=True) == before


@SETTINGS
@given(phis(), phis(), phis())
def test_composition(a, b, c):
    """Applying p then q equals applying p+q when both succeed."""
    p = diff(a.to_json(), b.to_json())
    q = diff(b.to_json(), c.to_json())
    assert apply_delta(apply_delta(a, p), q) == apply_delta(a, p + q) == c


@SETTINGS
@given(doc_and_patch(), st.data())
def test_composition_of_generated_patches(case, data):
    phi, p = case
    q = data.draw(st.lists(operations(phi.to_json()), min_size=1, max_size=3))
    try:
        first = apply_patch(phi.to_json(), p)
        second = apply_patch(first, q)
    except InvalidDelta:
        assume(False)
        return
    assert json_equal(apply_patch(phi.to_json(), p + q), second)


@SETTINGS
@given(json_values, json_values)
def test_generic_diff_round_trip_on_any_json(a, b):
    assert json_equal(apply_patch(a, diff(a, b)), b)


def test_baseline_unchanged_by_a_failing_delta_at_the_model_level():
    phi = baseline_phi()
    snapshot = phi.model_dump_json()
    try:
        apply_delta(
            phi, [{"op": "replace", "path": "/optimizer/algorithm", "value": "rmsprop"}, BAD_OPS[0]]
        )
    except InvalidDelta as exc:
        assert exc.op_index == 1 and exc.path == "/optimizer/does_not_exist"
    assert phi.model_dump_json() == snapshot
