"""The ranking network built from Φ.architecture.

Inputs (B = rows, one row per (user, document) pair; T = topics; E = embedding_dim):

* ``ids`` [B, 3] int64: user id, document id, topic — each looked up in its own embedding
  table of width E (ids beyond a table's size are folded in by modulo, so unseen users and
  documents still get a — shared, untrained — row);
* ``dense`` [B, F] float32 from :func:`dense_features`: the user profile [T], the document
  embedding [T], their element-wise product [T], their cosine, log1p(length), the
  quality score and log1p(views) — F = 3T + 4. These are exactly what a
  :class:`~evorec.simulator.policy.ServingBatch` carries; slate position is *not* an input
  (serving does not know it). ``dense`` is standardised inside the model with
  mean/std buffers fitted on the training split (saved with the weights).

Structure, following Φ.architecture::

    x0 = [user_emb, doc_emb, topic_emb, standardised dense]          [B, 3E + F]
    x  = cross_layers(x0)       DCN-v2: x_{l+1} = x0 ⊙ (W x_l + b) + x_l, W optionally U·V
    h  = tower(x)               per width: Linear → norm → activation → dropout
    h  = h + W_o((W_v x) ⊙ gate(W_g x))        when gated_path is set
    out = heads(h)              [B, 1 + A]: column 0 = reward head (the serving score),
                                then one column per aux head, in Φ order
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn

from evorec.ranker.data import DataSpec
from evorec.ranker.schema import Architecture, Phi

__all__ = [
    "Ranker",
    "build_model",
    "count_params",
    "cpu_threads",
    "dense_dim",
    "dense_features",
]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}
_GATES = {"sigmoid": torch.sigmoid, "gelu": nn.functional.gelu, "silu": nn.functional.silu}


@contextlib.contextmanager
def cpu_threads(device: torch.device | str, threads: int | None = 1) -> Iterator[None]:
    """Run torch's CPU ops with ``threads`` intra-op threads, restoring the setting after.

    The ranker's matrices are small (batches of ~1k rows, layers of ~64 units): a second
    thread gains little, and when other processes share the cores OpenMP's barriers make
    two threads 10–25× *slower* than one (measured on the 2-core test machines). So
    training and scoring on the CPU run single-threaded unless told otherwise.
    """
    if torch.device(device).type != "cpu" or threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def dense_dim(spec: DataSpec) -> int:
    """F: width of :func:`dense_features` for this data."""
    return spec.user_feature_dim + 2 * spec.doc_feature_dim + 4


def dense_features(
    user_features: torch.Tensor,
    doc_features: torch.Tensor,
    doc_length: torch.Tensor,
    doc_quality_score: torch.Tensor,
    doc_views: torch.Tensor,
) -> torch.Tensor:
    """[..., F] dense inputs from broadcastable [..., T] / [...] tensors (F = 3T + 4)."""
    uf, df = torch.broadcast_tensors(user_features, doc_features)
    prod = uf * df
    cos = prod.sum(-1, keepdim=True) / (
        uf.norm(dim=-1, keepdim=True) * df.norm(dim=-1, keepdim=True) + 1e-6
    )
    scalars = torch.stack(
        [
            torch.log1p(doc_length.clamp_min(0).float()),
            doc_quality_score.float(),
            torch.log1p(doc_views.clamp_min(0).float()),
        ],
        dim=-1,
    )
    scalars = scalars.expand(*uf.shape[:-1], 3)
    return torch.cat([uf, df, prod, cos, scalars], dim=-1)


class _Cross(nn.Module):
    """One DCN-v2 cross layer; low rank r: W = U Vᵀ (2·d·r weights instead of d²)."""

    def __init__(self, dim: int, low_rank: int | None) -> None:
        super().__init__()
        if low_rank is None:
            self.proj = nn.Linear(dim, dim)
        else:
            self.proj = nn.Sequential(
                nn.Linear(dim, low_rank, bias=False), nn.Linear(low_rank, dim)
            )

    def forward(self, x0: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x0 * self.proj(x) + x


class _Gated(nn.Module):
    """GLU-style path: W_o((W_v x) ⊙ gate(W_g x)), projected to the tower's output width."""

    def __init__(self, dim: int, hidden: int, out: int, gate: str) -> None:
        super().__init__()
        self.value_gate = nn.Linear(dim, 2 * hidden)
        self.out = nn.Linear(hidden, out)
        self.gate = _GATES[gate]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.value_gate(x).chunk(2, dim=-1)
        return self.out(value * self.gate(gate))


class Ranker(nn.Module):
    """Multi-task ranking model; ``forward(ids, dense) -> [B, 1 + A]`` raw outputs."""

    def __init__(self, arch: Architecture, spec: DataSpec) -> None:
        super().__init__()
        e = arch.embedding_dim
        self.spec = spec
        self.num_users, self.num_docs, self.num_topics = (
            spec.num_users,
            spec.num_docs,
            spec.num_topics,
        )
        self.user_emb = nn.Embedding(spec.num_users, e)
        self.doc_emb = nn.Embedding(spec.num_docs, e)
        self.topic_emb = nn.Embedding(spec.num_topics, e)
        for emb in (self.user_emb, self.doc_emb, self.topic_emb):
            nn.init.normal_(emb.weight, std=1.0 / math.sqrt(e))
        f = dense_dim(spec)
        self.register_buffer("dense_mean", torch.zeros(f))
        self.register_buffer("dense_std", torch.ones(f))
        d0 = 3 * e + f
        self.cross = nn.ModuleList(
            [_Cross(d0, arch.cross_layers.low_rank) for _ in range(arch.cross_layers.count)]
            if arch.cross_layers is not None
            else []
        )
        layers: list[nn.Module] = []
        width = d0
        for w in arch.tower_widths:
            layers.append(nn.Linear(width, w))
            if arch.normalization == "layernorm":
                layers.append(nn.LayerNorm(w))
            elif arch.normalization == "batchnorm":
                layers.append(nn.BatchNorm1d(w))
            layers.append(_ACTIVATIONS[arch.activation]())
            if arch.dropout > 0:
                layers.append(nn.Dropout(arch.dropout))
            width = w
        self.tower = nn.Sequential(*layers)
        g = arch.gated_path
        self.gated = _Gated(d0, g.hidden, width, g.gate_activation) if g is not None else None
        self.heads = nn.Linear(width, 1 + len(arch.aux_heads))
        self.head_names = ["reward", *(h.signal for h in arch.aux_heads)]

    def set_dense_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardisation fitted on the training split (kept in the state dict)."""
        self.dense_mean.copy_(mean)
        self.dense_std.copy_(std.clamp_min(1e-4))

    def forward(self, ids: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """ids [B, 3] int64 (user, doc, topic), dense [B, F] float32 -> [B, 1 + A]."""
        x0 = torch.cat(
            [
                self.user_emb(ids[:, 0] % self.num_users),
                self.doc_emb(ids[:, 1] % self.num_docs),
                self.topic_emb(ids[:, 2] % self.num_topics),
                (dense - self.dense_mean) / self.dense_std,
            ],
            dim=-1,
        )
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        h = self.tower(x)
        if self.gated is not None:
            h = h + self.gated(x)
        return self.heads(h)


def build_model(phi: Phi, spec: DataSpec) -> Ranker:
    """The untrained network for Φ.architecture and the data's sizes."""
    return Ranker(phi.architecture, spec)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (buffers such as the dense statistics are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
