import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from evorec.errors import ConfigError, InvalidDelta
from evorec.simulator.pipeline import (
    FUSION_SIGNALS,
    LOW_SCORE,
    STAGES,
    FusionConfig,
    PipelinePolicy,
    apply_fusion_delta,
    baseline_fusion,
    compute_signals,
    describe_fusion_fields,
    fusion_patch,
    fusion_search_space,
    load_fusion,
)
from evorec.simulator.policy import ServingBatch
from evorec.simulator.surfaces import SURFACES
from evorec.simulator.world import topk


def make_batch(users=300, docs=100, topics=10, seed=0, day=2):
    rng = np.random.default_rng(seed)
    return ServingBatch(
        day=day,
        step=1,
        user_ids=np.arange(users, dtype=np.int64),
        user_features=rng.standard_normal((users, topics)).astype(np.float32),
        doc_ids=rng.choice(1000, size=docs, replace=False).astype(np.int64),
        doc_topic=rng.integers(0, topics, docs).astype(np.int64),
        doc_length=rng.uniform(30, 600, docs).astype(np.float32),
        doc_quality_score=rng.standard_normal(docs).astype(np.float32),
        doc_features=rng.standard_normal((docs, topics)).astype(np.float32),
        seed=seed,
        doc_views=rng.integers(0, 10_000, docs),
    )


def with_changes(changes):
    return apply_fusion_delta(baseline_fusion(), changes)


def problem_paths(exc):
    return [e["path"] for e in exc.value.errors]


# ----------------------------------------------------------------------------- config


def test_baseline_fits_every_builtin_surface_and_hashes_stably():
    cfg = baseline_fusion()
    for surface in SURFACES.values():
        cfg.check_surface(surface)
    again = load_fusion(json.dumps(cfg.to_json()))
    assert again == cfg and again.content_hash() == cfg.content_hash()
    other = with_changes([{"op": "replace", "path": "/ranking/keep", "value": 11}])
    assert other.content_hash() != cfg.content_hash()


def test_keeps_must_not_grow_from_stage_to_stage():
    data = baseline_fusion().to_json()
    data["ranking"]["keep"] = data["pre_ranking"]["keep"] + 1
    with pytest.raises(ConfigError) as exc:
        load_fusion(data)
    assert problem_paths(exc) == ["/ranking/keep"]
    assert "ranking.keep" in str(exc.value) and "pre_ranking.keep" in str(exc.value)


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("/ranking/weights/p_click/weight", 10.5, "/ranking/weights/p_click/weight"),
        ("/ranking/weights/p_click/exponent", 0.0, "/ranking/weights/p_click/exponent"),
        ("/ranking/weights/p_click/weight", float("nan"), "/ranking/weights/p_click/weight"),
        ("/ranking/weights/p_click/weight", "1.0", "/ranking/weights/p_click/weight"),
        ("/re_ranking/diversity_penalty", -0.1, "/re_ranking/diversity_penalty"),
        ("/retrieval/keep", 0, "/retrieval/keep"),
        ("/retrieval/keep", 2.5, "/retrieval/keep"),
        ("/ranking/weights/clickiness", {"weight": 1.0}, "/ranking/weights/clickiness"),
        ("/ranking/weights", {}, "/ranking/weights"),
        ("/ranking/colour", "red", "/ranking/colour"),
        ("/colour", "red", "/colour"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(path, value, expected):
    data = baseline_fusion().to_json()
    parts = path.strip("/").split("/")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    with pytest.raises(ConfigError) as exc:
        load_fusion(data)
    assert expected in problem_paths(exc)
    assert expected in str(exc.value)


def test_unknown_signal_message_lists_the_signals():
    data = baseline_fusion().to_json()
    data["ranking"]["weights"]["clickiness"] = {"weight": 1.0}
    with pytest.raises(ConfigError, match="unknown signal 'clickiness'") as exc:
        load_fusion(data)
    assert all(s in str(exc.value) for s in FUSION_SIGNALS)


def test_load_fusion_reads_files_and_reports_bad_text(tmp_path):
    path = tmp_path / "fusion.json"
    path.write_text(json.dumps(baseline_fusion().to_json()))
    assert load_fusion(path) == baseline_fusion() == load_fusion(str(path))
    with pytest.raises(ConfigError, match="cannot read"):
        load_fusion(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_fusion("{not json")
    with pytest.raises(ConfigError, match="JSON object"):
        load_fusion("[1, 2]")


def test_config_is_frozen():
    cfg = baseline_fusion()
    with pytest.raises(ValueError):
        cfg.ranking.keep = 3


# ----------------------------------------------------------------------------- deltas


def test_delta_applies_and_validates_the_result():
    cfg = with_changes(
        [
            {"op": "add", "path": "/ranking/weights/quality", "value": {"weight": 2.0}},
            {"op": "replace", "path": "/re_ranking/diversity_penalty", "value": 0.7},
        ]
    )
    assert cfg.ranking.weights["quality"].weight == 2.0
    assert cfg.ranking.weights["quality"].exponent == 1.0
    assert cfg.re_ranking.diversity_penalty == 0.7


def test_delta_is_all_or_nothing():
    base = baseline_fusion()
    before = base.to_json()
    patch = [
        {"op": "replace", "path": "/ranking/keep", "value": 8},
        {"op": "replace", "path": "/ranking/nope/x", "value": 1},
    ]
    with pytest.raises(InvalidDelta) as exc:
        apply_fusion_delta(base, patch)
    assert exc.value.op_index == 1
    assert base.to_json() == before
    # Every operation applies but the result is invalid: refused, with the field's path.
    with pytest.raises(InvalidDelta) as exc:
        apply_fusion_delta(
            base,
            [
                {"op": "replace", "path": "/ranking/keep", "value": 8},
                {"op": "replace", "path": "/re_ranking/keep", "value": 9},
            ],
        )
    assert exc.value.path == "/re_ranking/keep"
    assert base.to_json() == before


# ----------------------------------------------------------------------------- search space


def _value_at(data, pointer):
    for p in pointer.strip("/").split("/"):
        data = data[p]
    return data


def test_search_space_lists_every_tunable_field():
    space = fusion_search_space()
    expected = set()
    for st in STAGES:
        expected.add(f"/{st}/keep")
        for sig in FUSION_SIGNALS:
            expected |= {f"/{st}/weights/{sig}/weight", f"/{st}/weights/{sig}/exponent"}
    expected.add("/re_ranking/diversity_penalty")
    assert set(space) == expected
    assert all(e["description"] for e in space.values())
    # Pointers of terms present in the baseline resolve to numbers of the right type.
    data = baseline_fusion().to_json()
    for sig in data["ranking"]["weights"]:
        assert isinstance(_value_at(data, f"/ranking/weights/{sig}/weight"), float)
    one = fusion_search_space("pre-ranking")
    assert set(one) == {p for p in expected if p.startswith("/pre_ranking/")}
    with pytest.raises(ConfigError, match="unknown stage"):
        fusion_search_space("reranking")
    assert len(describe_fusion_fields()) == len(space)


def _just_outside(e, side):
    value = e[side]
    if e["type"] == "int":
        return value - 1 if side == "low" else value + 1
    return value - 1e-6 if side == "low" else value + 1e-6


def test_search_space_bounds_are_the_validated_bounds():
    space = fusion_search_space()
    base = baseline_fusion()
    # Keep's order across stages is not a bound: probe it where the order allows.
    probes = {
        p: e
        for p, e in space.items()
        if not p.endswith("/keep") or p in ("/retrieval/keep", "/re_ranking/keep")
    }
    for pointer, e in probes.items():
        sides = ["low", "high"]
        if pointer == "/retrieval/keep":
            sides = ["high"]
        if pointer == "/re_ranking/keep":
            sides = ["low"]
        for side in sides:
            inside = e[side] if e[f"{side}_inclusive"] else None
            if inside is None:
                inside = e[side] + (1e-6 if side == "low" else -1e-6)
            cfg = apply_fusion_delta(base, fusion_patch(base, {pointer: inside}))
            assert _value_at(cfg.to_json(), pointer) == inside
            bad = e[side] if not e[f"{side}_inclusive"] else _just_outside(e, side)
            with pytest.raises(InvalidDelta) as exc:
                apply_fusion_delta(base, fusion_patch(base, {pointer: bad}))
            assert exc.value.path == pointer, (pointer, side, bad)
    keeps = {space[f"/{st}/keep"]["high"] for st in STAGES}
    assert keeps == {10_000}


def test_search_space_narrows_to_a_surface():
    space = fusion_search_space("re_ranking", surface="home_feed")
    s = SURFACES["home_feed"]
    assert space["/re_ranking/keep"]["low"] == s.slate_size
    assert space["/re_ranking/keep"]["high"] == s.num_candidates


def test_fusion_patch_adds_missing_terms_whole():
    base = baseline_fusion()
    assert "freshness" not in base.ranking.weights
    cfg = apply_fusion_delta(base, fusion_patch(base, {"/ranking/weights/freshness/exponent": 2.0}))
    assert cfg.ranking.weights["freshness"].weight == 0.0
    assert cfg.ranking.weights["freshness"].exponent == 2.0


# ----------------------------------------------------------------------------- serving


def test_scores_shape_dtype_finite_and_deterministic():
    batch = make_batch()
    policy = PipelinePolicy(baseline_fusion())
    a, b = policy.score(batch), PipelinePolicy(baseline_fusion()).score(batch)
    assert a.shape == (300, 100) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and np.array_equal(a, b)
    r = baseline_fusion().re_ranking.keep
    assert np.all((a > 0).sum(axis=1) == r)
    assert np.all(a[a <= 0] == LOW_SCORE)
    empty = make_batch(users=0)
    assert policy.score(empty).shape == (0, 100)


def test_top_k_of_the_scores_is_the_reranked_list_in_order():
    cfg = with_changes([{"op": "replace", "path": "/re_ranking/diversity_penalty", "value": 0.8}])
    policy = PipelinePolicy(cfg)
    batch = make_batch(seed=3)
    order = policy.rank(batch)
    scores = policy.score(batch)
    for k in range(1, order.shape[1] + 1):
        assert np.array_equal(topk(scores, k), order[:, :k])


def test_each_stage_only_sees_what_the_stage_before_kept():
    # Retrieval keeps the 10 best by quality; later stages rank by relevance only.
    cfg = load_fusion(
        {
            "retrieval": {"keep": 10, "weights": {"quality": {"weight": 1.0}}},
            "pre_ranking": {"keep": 8, "weights": {"relevance": {"weight": 1.0}}},
            "ranking": {"keep": 6, "weights": {"relevance": {"weight": 1.0}}},
            "re_ranking": {"keep": 5, "weights": {"relevance": {"weight": 1.0}}},
        }
    )
    batch = make_batch(seed=4)
    order = PipelinePolicy(cfg).rank(batch)
    best_quality = set(np.argsort(-batch.doc_quality_score, kind="stable")[:10].tolist())
    assert set(np.unique(order).tolist()) <= best_quality
    # Within what survives, the final order is by relevance (descending).
    rel = compute_signals(batch, ["relevance"])["relevance"]
    picked = np.take_along_axis(rel, order, axis=1)
    assert np.all(np.diff(picked, axis=1) <= 0)
    # A pure relevance pipeline picks differently (retrieval mattered).
    plain = load_fusion(
        {**cfg.to_json(), "retrieval": {"keep": 10, "weights": {"relevance": {"weight": 1.0}}}}
    )
    assert not np.array_equal(PipelinePolicy(plain).rank(batch), order)


def test_negative_weights_and_exponents_change_the_slate():
    batch = make_batch(seed=5)
    pos = with_changes(
        [{"op": "add", "path": "/ranking/weights/quality", "value": {"weight": 3.0}}]
    )
    neg = with_changes(
        [{"op": "add", "path": "/ranking/weights/quality", "value": {"weight": -3.0}}]
    )
    q = batch.doc_quality_score
    q_pos = q[PipelinePolicy(pos).rank(batch)].mean()
    q_neg = q[PipelinePolicy(neg).rank(batch)].mean()
    assert q_pos > q_neg
    sharp = with_changes(
        [
            {"op": "replace", "path": "/ranking/weights/quality/weight", "value": 1.0},
            {"op": "replace", "path": "/ranking/weights/quality/exponent", "value": 4.0},
        ]
    )
    assert not np.array_equal(
        PipelinePolicy(sharp).rank(batch), PipelinePolicy(baseline_fusion()).rank(batch)
    )


def _distinct_topics(batch, order, k):
    topics = np.sort(batch.doc_topic[order[:, :k]], axis=1)
    return (1 + (np.diff(topics, axis=1) != 0).sum(axis=1)).mean()


def test_diversity_penalty_increases_distinct_topics_per_slate():
    batch = make_batch(users=500, seed=6)
    values = []
    for penalty in (0.0, 0.5, 2.0):
        cfg = with_changes(
            [{"op": "replace", "path": "/re_ranking/diversity_penalty", "value": penalty}]
        )
        values.append(_distinct_topics(batch, PipelinePolicy(cfg).rank(batch), 5))
    assert values[0] < values[1] <= values[2]
    assert values[2] >= 4.5  # with a large penalty nearly every slate item has its own topic


def test_keeps_are_checked_against_the_surface_and_the_batch():
    too_wide = with_changes([{"op": "replace", "path": "/retrieval/keep", "value": 150}])
    with pytest.raises(ConfigError, match="/retrieval/keep"):
        PipelinePolicy(too_wide, surface="home_feed")
    with pytest.raises(ConfigError, match="/retrieval/keep"):
        PipelinePolicy(too_wide).score(make_batch(docs=100))
    short = with_changes([{"op": "replace", "path": "/re_ranking/keep", "value": 3}])
    with pytest.raises(ConfigError, match="/re_ranking/keep"):
        short.check_surface("home_feed")
    short.check_surface("watch_next")  # slate size 3


# ----------------------------------------------------------------------------- signals


def test_signals_are_deterministic_and_documented():
    batch = make_batch(seed=7)
    sig = compute_signals(batch)
    assert set(sig) == set(FUSION_SIGNALS)
    for name, x in sig.items():
        assert x.shape == (300, 100) and np.all(np.isfinite(x)), name
    # Document-level signals are the same for every user.
    for name in ("quality", "popularity", "freshness"):
        assert np.all(sig[name] == sig[name][0])
    assert np.allclose(sig["popularity"][0], np.log1p(batch.doc_views))
    f = sig["freshness"][0]
    assert np.all((f > 0) & (f <= 1))
    later = compute_signals(make_batch(seed=7, day=3), ["freshness"])["freshness"][0]
    assert not np.array_equal(f, later)
    assert np.array_equal(f, compute_signals(batch, ["freshness"])["freshness"][0])
    # Without a ranker, p_click is a monotone function of relevance.
    order_rel = np.argsort(-sig["relevance"], axis=1, kind="stable")
    order_click = np.argsort(-sig["p_click"], axis=1, kind="stable")
    assert np.array_equal(order_rel, order_click)


def test_normalised_signals_lie_in_the_unit_interval():
    batch = make_batch(seed=8)
    cfg = load_fusion(
        {
            **baseline_fusion().to_json(),
            "ranking": {"keep": 10, "weights": {s: {"weight": 1.0} for s in FUSION_SIGNALS}},
        }
    )
    norm = PipelinePolicy(cfg).normalised_signals(batch)
    assert set(norm) == set(FUSION_SIGNALS)
    for x in norm.values():
        assert x.min() == 0.0 and math.isclose(x.max(), 1.0)


def test_a_ranker_supplies_p_click_and_p_watch():
    import torch

    from evorec.ranker.data import DataSpec
    from evorec.ranker.model import build_model
    from evorec.ranker.schema import baseline_phi, load_phi
    from evorec.ranker.serving import score_batch

    spec = DataSpec(
        num_topics=10, num_users=300, num_docs=1000, user_feature_dim=10, doc_feature_dim=10
    )
    phi_json = baseline_phi().to_json()
    phi_json["architecture"]["aux_heads"] = [{"signal": "watch_time", "weight": 1.0}]
    torch.manual_seed(0)
    model = build_model(load_phi(phi_json), spec).eval()
    batch = make_batch(users=20, seed=9)
    sig = compute_signals(batch, ["p_click", "p_watch"], ranker=model)
    logits = score_batch(model, batch).astype(np.float64)
    assert np.allclose(sig["p_click"], 1.0 / (1.0 + np.exp(-logits)), atol=1e-6)
    default = compute_signals(batch, ["p_click"])["p_click"]
    assert not np.allclose(sig["p_click"], default)
    assert np.all(sig["p_watch"] > 0) and np.all(sig["p_watch"] < 1)
    scores = PipelinePolicy(baseline_fusion(), ranker=model).score(batch)
    assert scores.shape == (20, 100) and np.all(np.isfinite(scores))


def test_fusion_config_round_trips_through_json():
    cfg = with_changes([{"op": "replace", "path": "/re_ranking/diversity_penalty", "value": 1.5}])
    assert FusionConfig.model_validate_json(json.dumps(cfg.to_json())) == cfg


@settings(max_examples=60, deadline=None)
@given(hst.data())
def test_any_point_inside_the_bounds_is_a_valid_config(data):
    base = baseline_fusion()
    space = fusion_search_space("re_ranking", surface="home_feed")
    values = {}
    for pointer, e in space.items():
        if e["field"] == "keep":
            continue
        if data.draw(hst.booleans()):
            values[pointer] = data.draw(
                hst.floats(
                    e["low"],
                    e["high"],
                    exclude_min=not e["low_inclusive"],
                    exclude_max=not e["high_inclusive"],
                    allow_nan=False,
                )
            )
    cfg = apply_fusion_delta(base, fusion_patch(base, values))
    for pointer, value in values.items():
        assert _value_at(cfg.to_json(), pointer) == value
    scores = PipelinePolicy(cfg, surface="home_feed").score(make_batch(users=20, seed=10))
    assert np.all(np.isfinite(scores))
