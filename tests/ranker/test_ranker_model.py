"""The network follows Φ.architecture: every option builds, and changes the parameters as it should."""

from __future__ import annotations

import pytest
import torch

from evorec.ranker.model import build_model, count_params, dense_dim


def _lin(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def expected_params(phi, spec) -> int:
    """Independent count of the documented structure."""
    a = phi.architecture
    e = a.embedding_dim
    d0 = 3 * e + dense_dim(spec)
    n = (spec.num_users + spec.num_docs + spec.num_topics) * e
    if a.cross_layers is not None:
        r = a.cross_layers.low_rank
        per = _lin(d0, d0) if r is None else _lin(d0, r, bias=False) + _lin(r, d0)
        n += a.cross_layers.count * per
    width = d0
    for w in a.tower_widths:
        n += _lin(width, w)
        if a.normalization != "none":
            n += 2 * w
        width = w
    if a.gated_path is not None:
        h = a.gated_path.hidden
        n += _lin(d0, 2 * h) + _lin(h, width)
    return n + _lin(width, 1 + len(a.aux_heads))


VARIANTS = {
    "baseline": [],
    "gelu": [("replace", "/architecture/activation", "gelu")],
    "silu": [("replace", "/architecture/activation", "silu")],
    "tanh": [("replace", "/architecture/activation", "tanh")],
    "gated_sigmoid": [("add", "/architecture/gated_path", {"hidden": 32})],
    "gated_silu": [("add", "/architecture/gated_path", {"hidden": 16, "gate_activation": "silu"})],
    "cross_full": [("add", "/architecture/cross_layers", {"count": 2})],
    "cross_low_rank": [("add", "/architecture/cross_layers", {"count": 3, "low_rank": 8})],
    "layernorm": [("replace", "/architecture/normalization", "layernorm")],
    "batchnorm": [("replace", "/architecture/normalization", "batchnorm")],
    "dropout": [("replace", "/architecture/dropout", 0.3)],
    "aux_heads": [
        ("add", "/architecture/aux_heads/-", {"signal": "watch_time", "weight": 0.5}),
        ("add", "/architecture/aux_heads/-", {"signal": "survey", "weight": 0.2}),
    ],
    "deep_wide": [
        ("replace", "/architecture/tower_widths", [128, 64, 32]),
        ("replace", "/architecture/embedding_dim", 8),
    ],
    "everything": [
        ("replace", "/architecture/activation", "silu"),
        ("add", "/architecture/gated_path", {"hidden": 8, "gate_activation": "gelu"}),
        ("add", "/architecture/cross_layers", {"count": 1, "low_rank": 4}),
        ("replace", "/architecture/normalization", "layernorm"),
        ("replace", "/architecture/dropout", 0.1),
        ("add", "/architecture/aux_heads/-", {"signal": "like", "weight": 1.0}),
    ],
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_builds_with_documented_params(name, data, make_phi):
    phi = make_phi(*VARIANTS[name])
    model = build_model(phi, data.spec)
    assert count_params(model) == expected_params(phi, data.spec)
    ids = torch.tensor([[0, 0, 0], [5, 7, 2], [10_000, 10_000, 99]])  # out-of-range ids fold in
    dense = torch.randn(3, dense_dim(data.spec))
    out = model.eval()(ids, dense)
    assert out.shape == (3, 1 + len(phi.architecture.aux_heads))
    assert torch.isfinite(out).all()


def test_options_change_the_model(data, make_phi):
    counts = {
        name: count_params(build_model(make_phi(*ops), data.spec)) for name, ops in VARIANTS.items()
    }
    base = counts["baseline"]
    for same in ("gelu", "silu", "tanh", "dropout"):
        assert counts[same] == base
    for bigger in (
        "gated_sigmoid",
        "cross_full",
        "cross_low_rank",
        "layernorm",
        "batchnorm",
        "aux_heads",
    ):
        assert counts[bigger] > base, bigger
    assert counts["cross_low_rank"] < counts["cross_full"]


def test_activation_changes_outputs(data, make_phi):
    ids = torch.tensor([[1, 2, 3]] * 4)
    dense = torch.randn(4, dense_dim(data.spec))
    outs = []
    for act in ("relu", "tanh"):
        torch.manual_seed(0)
        outs.append(
            build_model(make_phi(("replace", "/architecture/activation", act)), data.spec)(
                ids, dense
            )
        )
    assert not torch.allclose(outs[0], outs[1])


def test_meta_count_equals_real_count(data, make_phi):
    phi = make_phi(*VARIANTS["everything"])
    with torch.device("meta"):
        meta = count_params(build_model(phi, data.spec))
    assert meta == count_params(build_model(phi, data.spec))
