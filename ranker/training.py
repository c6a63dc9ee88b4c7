"""Training θ for a given Φ: label from Φ.reward, optimiser from Φ.optimizer, loop, metrics.

The loop keeps every tensor on the device and draws batches as slices of a seeded
``randperm`` (no DataLoader): per step, one gather of the int ids and one of the packed
float matrix ``[dense | target | aux targets | aux masks]``.

Label (:func:`compose_label`): ``Σ weight · transform(signal)``, where a NULL signal (only
``survey``) is first replaced by the term's ``fill_missing``; transforms are identity,
``log1p``, ``clip`` (min(x, param)) and ``threshold`` (1 if x ≥ param else 0). With loss
``bce`` the label is **clamped** to [0, 1] (a soft label, as Φ's schema documents; the share
of clamped rows is reported as ``label_clamped_fraction`` so a label that saturates is
visible); with ``mse`` the raw label is regressed.

Aux heads are always trained with a logistic loss on a [0, 1] target: click, like, dismiss
and completion as logged; ``watch_time`` as ``log1p(x) / log1p(max training watch time)``;
``survey`` as ``(x - 1) / 4`` with NULL rows masked out. Each head's mean loss is
multiplied by its weight and added to the reward head's loss.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from evorec.errors import DataError, TrainingDiverged
from evorec.ranker.data import DataSpec, LoggedData
from evorec.ranker.model import Ranker, build_model, count_params, cpu_threads, dense_features
from evorec.ranker.schema import Optimizer, Phi, Reward

__all__ = [
    "TrainResult",
    "click_metrics",
    "compose_label",
    "lr_factor",
    "make_optimizer",
    "planned_steps",
    "predict",
    "resolve_device",
    "train",
]

_CHECK_EVERY = 4  # steps between non-finite-loss checks (each check syncs the device)
_EVAL_CHUNK = 65_536


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ------------------------------------------------------------------------------ labels


def compose_label(reward: Reward, signals: dict[str, np.ndarray]) -> np.ndarray:
    """[N] float32 raw label ``Σ weight · transform(fill(signal))`` (before any clamping)."""
    n = len(next(iter(signals.values())))
    total = np.zeros(n, np.float64)
    for term in reward.terms:
        x = signals[term.signal].astype(np.float64)
        x = np.where(np.isnan(x), term.fill_missing, x)
        if term.transform == "log1p":
            x = np.log1p(np.maximum(x, -1.0 + 1e-12))
        elif term.transform == "clip":
            x = np.minimum(x, term.param)
        elif term.transform == "threshold":
            x = (x >= term.param).astype(np.float64)
        total += term.weight * x
    return total.astype(np.float32)


def _aux_target(signal: str, signals: dict[str, np.ndarray], train_rows: np.ndarray):
    """([N] target in [0, 1], [N] mask) for an aux head (see module doc)."""
    x = signals[signal].astype(np.float32)
    mask = np.ones_like(x)
    if signal == "watch_time":
        top = float(np.log1p(np.nanmax(x[train_rows]))) if train_rows.size else 1.0
        x = np.log1p(np.maximum(x, 0.0)) / max(top, 1e-6)
    elif signal == "survey":
        mask = (~np.isnan(x)).astype(np.float32)
        x = np.where(np.isnan(x), 0.0, (x - 1.0) / 4.0)
    return np.clip(x, 0.0, 1.0).astype(np.float32), mask


# ----------------------------------------------------------------------------- optimiser


def make_optimizer(opt: Optimizer, params: Any) -> torch.optim.Optimizer:
    """The torch optimiser for Φ.optimizer (peak learning rate; the schedule scales it)."""
    params = list(params)
    kw: dict[str, Any] = {"lr": opt.learning_rate, "weight_decay": opt.weight_decay}
    if opt.algorithm == "adagrad":
        return torch.optim.Adagrad(
            params, initial_accumulator_value=opt.initial_accumulator, eps=opt.eps, **kw
        )
    if opt.algorithm == "rmsprop":
        return torch.optim.RMSprop(params, alpha=opt.rho, eps=opt.eps, momentum=opt.momentum, **kw)
    if opt.algorithm == "adam":
        return torch.optim.Adam(params, betas=(opt.beta1, opt.beta2), eps=opt.eps, **kw)
    if opt.algorithm == "adamw":
        return torch.optim.AdamW(params, betas=(opt.beta1, opt.beta2), eps=opt.eps, **kw)
    return torch.optim.SGD(params, momentum=opt.momentum, nesterov=opt.nesterov, **kw)


def lr_factor(opt: Optimizer, step: int, total_steps: int) -> float:
    """Multiplier of the peak rate at ``step`` (0-based): linear warm-up, then the schedule."""
    if step < opt.warmup_steps:
        return (step + 1) / opt.warmup_steps
    after = step - opt.warmup_steps
    span = max(1, total_steps - opt.warmup_steps - 1)
    p = min(1.0, after / span)
    lo = opt.min_lr_ratio
    if opt.schedule == "cosine":
        return lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * p))
    if opt.schedule == "linear":
        return 1.0 - (1.0 - lo) * p
    if opt.schedule == "exponential":
        return opt.decay_rate ** (after / 1000.0)
    return 1.0


def planned_steps(phi: Phi, num_train: int) -> int:
    """Steps Φ.training asks for: epochs × full batches per epoch, capped by max_steps."""
    batch = min(phi.training.batch_size, num_train)
    steps = phi.training.epochs * max(1, num_train // max(batch, 1))
    if phi.training.max_steps is not None:
        steps = min(steps, phi.training.max_steps)
    return steps


# ------------------------------------------------------------------------------- tensors


def _feature_tensors(data: LoggedData, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """ids [N, 3] int64 and dense [N, F] float32 for every impression, cached per device."""
    key = f"features:{device}"
    cached = data.cache.get(key)
    if cached is None:
        uid = torch.from_numpy(data.user_id)
        did = torch.from_numpy(data.doc_id)
        topic = torch.from_numpy(data.doc_topic)[did]
        dense = dense_features(
            torch.from_numpy(data.user_features)[uid],
            torch.from_numpy(data.doc_features)[did],
            torch.from_numpy(data.doc_length)[did],
            torch.from_numpy(data.doc_quality_score)[did],
            torch.from_numpy(data.doc_views)[did],
        )
        ids = torch.stack([uid, did, topic], dim=1)
        cached = (ids.to(device), dense.to(device, torch.float32).contiguous())
        data.cache[key] = cached
    return cached  # type: ignore[return-value]


@torch.no_grad()
def predict(model: nn.Module, ids: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """[B, 1 + A] outputs in eval mode, in chunks (no gradient)."""
    was_training = model.training
    model.eval()
    out = torch.cat(
        [
            model(ids[i : i + _EVAL_CHUNK], dense[i : i + _EVAL_CHUNK])
            for i in range(0, ids.shape[0], _EVAL_CHUNK)
        ]
    )
    model.train(was_training)
    return out


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    from scipy.stats import rankdata

    pos = label > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _platt(score: np.ndarray, click: np.ndarray, iters: int = 25) -> tuple[float, float]:
    """Fit p = σ(a·s + b) by Newton's method (2 parameters, ridge 1e-6)."""
    s = score.astype(np.float64)
    scale = float(s.std()) or 1.0
    s = (s - s.mean()) / scale
    y = click.astype(np.float64)
    w = np.zeros(2)
    x = np.stack([s, np.ones_like(s)], axis=1)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y)
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(2)
        w -= np.linalg.solve(hess, grad)
    a = w[0] / scale
    return float(a), float(w[1] - a * float(score.mean()))


def click_metrics(
    train_score: np.ndarray, train_click: np.ndarray, score: np.ndarray, click: np.ndarray
) -> dict[str, float]:
    """Reference click metrics of a serving score, comparable across every Φ.

    ``click_logloss``: held-out click log-loss of σ(a·score + b), a and b fitted on the
    training split (a 2-parameter calibration, so any score — a click logit, an MSE
    regression of watch time — is judged on the same label); ``click_auc``: held-out AUC.
    """
    a, b = _platt(train_score, train_click)
    z = np.clip(a * score.astype(np.float64) + b, -30, 30)
    loss = np.mean(np.logaddexp(0.0, z) - click * z)
    return {"click_logloss": float(loss), "click_auc": _auc(score, click)}


# ---------------------------------------------------------------------------------- train


@dataclass
class TrainResult:
    """A trained model and how training went."""

    model: Ranker
    """The trained network (on the training device, eval mode)."""
    phi: Phi
    spec: DataSpec
    metrics: dict[str, Any]
    """train_loss, heldout_loss (Φ's own label), click_logloss, click_auc, label stats, ..."""
    steps: int
    samples_per_s: float
    seconds: float
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


def _loss(
    out: torch.Tensor,
    target: torch.Tensor,
    aux: torch.Tensor,
    mask: torch.Tensor,
    aux_w: torch.Tensor,
    bce: bool,
) -> torch.Tensor:
    head = out[:, 0]
    if bce:
        loss = nn.functional.binary_cross_entropy_with_logits(head, target)
    else:
        loss = nn.functional.mse_loss(head, target)
    if aux_w.numel():
        per = nn.functional.binary_cross_entropy_with_logits(out[:, 1:], aux, reduction="none")
        per = (per * mask).sum(0) / mask.sum(0).clamp_min(1.0)
        loss = loss + (per * aux_w).sum()
    return loss


def train(
    phi: Phi,
    data: LoggedData,
    *,
    seed: int | None = None,
    device: str | torch.device | None = None,
    max_steps: int | None = None,
    check: bool = True,
    threads: int | None = 1,
) -> TrainResult:
    """Train θ for Φ on the training split; evaluate on the held-out users.

    ``seed`` overrides Φ.training.seed; ``max_steps`` caps the steps Φ asks for. With
    ``check`` (default) the constraints are checked first (``ConstraintViolation``).
    Raises ``TrainingDiverged`` within ``_CHECK_EVERY`` steps of a non-finite loss.
    On the CPU it runs with ``threads`` torch threads (1 by default, see ``cpu_threads``;
    None keeps torch's setting).
    """
    dev = resolve_device(device)
    with cpu_threads(dev, threads):
        return _train(phi, data, seed, dev, max_steps, check)


def _train(
    phi: Phi,
    data: LoggedData,
    seed: int | None,
    dev: torch.device,
    max_steps: int | None,
    check: bool,
) -> TrainResult:
    seed = phi.training.seed if seed is None else int(seed)
    if check:
        from evorec.ranker.serving import check_constraints

        check_constraints(phi, data.spec, measure_latency=False)
    train_rows = data.train_index
    n = train_rows.size
    if n < 2:
        raise DataError("the training split has fewer than 2 impressions")
    bce = phi.reward.loss == "bce"
    raw = compose_label(phi.reward, data.signals)
    target = np.clip(raw, 0.0, 1.0) if bce else raw
    aux_cols, mask_cols = [], []
    for head in phi.architecture.aux_heads:
        t, m = _aux_target(head.signal, data.signals, train_rows)
        aux_cols.append(t)
        mask_cols.append(m)
    a = len(aux_cols)

    ids_all, dense_all = _feature_tensors(data, dev)
    train_key = f"train:{dev}:{data.holdout_fraction}"
    if train_key not in data.cache:
        rows_t = torch.from_numpy(train_rows).to(dev)
        data.cache[train_key] = (ids_all[rows_t], dense_all[rows_t])
    ids, dense = data.cache[train_key]  # type: ignore[misc]
    floats = torch.from_numpy(
        np.stack([target, *aux_cols, *mask_cols], axis=1)[train_rows].astype(np.float32)
    ).to(dev)
    packed = torch.cat([dense, floats], dim=1).contiguous()
    f = dense.shape[1]

    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    if dev.type == "cuda":
        torch.cuda.manual_seed_all(seed)
    model = build_model(phi, data.spec)
    stats_key = f"dense_stats:{dev}:{data.holdout_fraction}"
    if stats_key not in data.cache:
        var, mean = torch.var_mean(dense, dim=0)
        data.cache[stats_key] = (mean.cpu(), var.sqrt().cpu())
    model.set_dense_stats(*data.cache[stats_key])  # type: ignore[misc]
    model.to(dev).train()
    opt = make_optimizer(phi.optimizer, model.parameters())
    aux_w = torch.tensor([h.weight for h in phi.architecture.aux_heads], device=dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)

    batch = min(phi.training.batch_size, n)
    total = planned_steps(phi, n)
    if max_steps is not None:
        total = max(1, min(total, int(max_steps)))
    clip = phi.optimizer.grad_clip_norm
    params = [p for p in model.parameters() if p.requires_grad]
    perm = torch.randperm(n, generator=gen, device=dev)
    pos = 0
    window: list[torch.Tensor] = []
    recent: list[float] = []
    start = time.perf_counter()
    for step in range(total):
        if pos + batch > n:
            perm = torch.randperm(n, generator=gen, device=dev)
            pos = 0
        idx = perm[pos : pos + batch]
        pos += batch
        for group in opt.param_groups:
            group["lr"] = phi.optimizer.learning_rate * lr_factor(phi.optimizer, step, total)
        rows = packed.index_select(0, idx)
        out = model(ids.index_select(0, idx), rows[:, :f])
        loss = _loss(out, rows[:, f], rows[:, f + 1 : f + 1 + a], rows[:, f + 1 + a :], aux_w, bce)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(params, clip, foreach=True)
        opt.step()
        window.append(loss.detach())
        if len(window) == _CHECK_EVERY or step == total - 1:
            values = torch.stack(window).cpu().numpy()
            window.clear()
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                at = step - len(values) + 1 + int(bad[0])
                raise TrainingDiverged(
                    f"training diverged: non-finite loss {values[bad[0]]} at step {at} "
                    f"(optimizer {phi.optimizer.algorithm}, lr {phi.optimizer.learning_rate})",
                    step=at,
                    loss=float(values[bad[0]]),
                )
            recent.extend(values.tolist())
            del recent[: max(0, len(recent) - 50)]
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    model.eval()

    metrics = _evaluate(model, data, ids_all, dense_all, target, aux_cols, mask_cols, aux_w, bce)
    if not all(math.isfinite(v) for k, v in metrics.items() if k != "click_auc"):
        raise TrainingDiverged(
            f"training produced non-finite held-out metrics {metrics}", step=total, loss=None
        )
    metrics.update(
        train_loss=float(np.mean(recent)) if recent else float("nan"),
        label_mean=float(raw[train_rows].mean()),
        label_clamped_fraction=(
            float(((raw[train_rows] < 0) | (raw[train_rows] > 1)).mean()) if bce else 0.0
        ),
        params=count_params(model),
        steps=total,
        batch_size=batch,
        samples=total * batch,
        train_seconds=seconds,
        samples_per_s=total * batch / max(seconds, 1e-9),
        seed=seed,
        device=str(dev),
        num_train=int(n),
        num_heldout=int(data.heldout.sum()),
    )
    return TrainResult(
        model=model,
        phi=phi,
        spec=data.spec,
        metrics=metrics,
        steps=total,
        samples_per_s=metrics["samples_per_s"],
        seconds=seconds,
        device=str(dev),
    )


def _evaluate(
    model: Ranker,
    data: LoggedData,
    ids_all: torch.Tensor,
    dense_all: torch.Tensor,
    target: np.ndarray,
    aux_cols: list[np.ndarray],
    mask_cols: list[np.ndarray],
    aux_w: torch.Tensor,
    bce: bool,
) -> dict[str, float]:
    """Held-out loss on Φ's own label and the reference click metrics."""
    dev = ids_all.device
    held = data.heldout_index
    train_rows = data.train_index
    # A fixed, seed-independent subsample of training rows for the click calibration.
    calib = train_rows[:: max(1, train_rows.size // 50_000)]
    h = torch.from_numpy(held).to(dev)
    c = torch.from_numpy(calib).to(dev)
    out_h = predict(model, ids_all[h], dense_all[h])
    out_c = predict(model, ids_all[c], dense_all[c])
    a = len(aux_cols)
    t = torch.from_numpy(target[held]).to(dev)
    aux = torch.from_numpy(
        np.stack(aux_cols, 1)[held] if a else np.zeros((held.size, 0), np.float32)
    ).to(dev)
    mask = torch.from_numpy(
        np.stack(mask_cols, 1)[held] if a else np.zeros((held.size, 0), np.float32)
    ).to(dev)
    with torch.no_grad():
        heldout_loss = float(_loss(out_h, t, aux, mask, aux_w, bce))
        reward_only = float(_loss(out_h, t, aux[:, :0], mask[:, :0], aux_w[:0], bce))
    score_h = out_h[:, 0].double().cpu().numpy()
    score_c = out_c[:, 0].double().cpu().numpy()
    click = data.signals["click"]
    metrics: dict[str, float] = {"heldout_loss": heldout_loss, "heldout_reward_loss": reward_only}
    if not (np.all(np.isfinite(score_h)) and np.all(np.isfinite(score_c))):
        return {**metrics, "click_logloss": float("nan"), "click_auc": float("nan")}
    metrics.update(click_metrics(score_c, click[calib], score_h, click[held]))
    return metrics
