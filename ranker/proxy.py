"""``compute_loss``: the cheap offline proxy the Optimizer and Architecture personas use.

For Φ it trains θ with a small step budget for each of a few seeds and reports, on the
held-out users:

* ``loss`` — the **reference** proxy loss: held-out click log-loss of the serving score
  after a 2-parameter logistic calibration fitted on the training split. The label is
  always the logged click, whatever Φ.reward says, so optimisers and architectures are
  compared on one fixed yardstick;
* ``auc`` — held-out click AUC of the serving score (rank-based, calibration-free);
* ``reward_loss`` — the held-out loss on Φ's own label (what Φ actually optimises);
* mean and sample standard deviation of each over the seeds, training time, parameters
  and scoring latency per 1,000 candidates.

Against a baseline :class:`ProxyResult` it adds ``comparison``: the loss and AUC
differences, a paired t-test over seeds (when both used the same seeds; Welch's t-test
otherwise), ``significant`` (p < 0.05) and ``better`` (significant *and* lower loss).
When Φ's reward section differs from the baseline's, ``comparable`` is False: a new label
moves the loss landscape itself, so a lower proxy loss says nothing about the north star —
judge such a Φ by the label's correlation with the north star and by an A/B test instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from evorec.ranker.data import LoggedData
from evorec.ranker.schema import Phi, phi_hash
from evorec.ranker.serving import check_constraints
from evorec.ranker.training import planned_steps, resolve_device, train

__all__ = ["DEFAULT_SAMPLE_BUDGET", "ProxyResult", "compare", "compute_loss", "reward_hash"]

#: Default training samples per seed (steps = this / batch size, at most what Φ asks for):
#: 1–1.5 s per seed for the baseline on one CPU core, so 3 seeds fit the 10 s target.
DEFAULT_SAMPLE_BUDGET = 300_000
ALPHA = 0.05


def reward_hash(phi: Phi) -> str:
    """16-hex-digit hash of Φ.reward (two Φ with the same label logic share it)."""
    blob = json.dumps(phi.reward.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _mean_std(xs: list[float]) -> tuple[float, float]:
    arr = np.asarray(xs, float)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _round(x: Any, digits: int = 5) -> Any:
    if isinstance(x, float):
        if not math.isfinite(x):
            return None
        return float(f"{x:.{digits}g}")
    if isinstance(x, list):
        return [_round(v, digits) for v in x]
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    return x


@dataclass
class ProxyResult:
    """What one proxy evaluation found (``to_dict()`` is what an agent reads)."""

    phi_hash: str
    reward_hash: str
    data_fingerprint: str
    seeds: list[int]
    budget_steps: int
    batch_size: int
    losses: list[float]
    """Reference loss (held-out calibrated click log-loss) per seed; lower is better."""
    aucs: list[float]
    """Held-out click AUC per seed; higher is better."""
    reward_losses: list[float]
    """Held-out loss on Φ's own label per seed (comparable only for the same reward)."""
    train_seconds: float
    """Training time summed over seeds."""
    wall_seconds: float
    samples_per_s: float
    params: int
    latency_ms_per_1k: float
    device: str
    comparison: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def loss_mean(self) -> float:
        return _mean_std(self.losses)[0]

    @property
    def loss_std(self) -> float:
        return _mean_std(self.losses)[1]

    @property
    def auc_mean(self) -> float:
        return _mean_std(self.aucs)[0]

    @property
    def auc_std(self) -> float:
        return _mean_std(self.aucs)[1]

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-ready summary (floats to 5 significant digits)."""
        rl_mean, rl_std = _mean_std(self.reward_losses)
        out = {
            "loss": {
                "mean": self.loss_mean,
                "std": self.loss_std,
                "per_seed": self.losses,
                "label": "click (calibrated log-loss, held-out users)",
            },
            "auc": {"mean": self.auc_mean, "std": self.auc_std, "per_seed": self.aucs},
            "reward_loss": {"mean": rl_mean, "std": rl_std},
            "params": self.params,
            "latency_ms_per_1k": self.latency_ms_per_1k,
            "train_seconds": self.train_seconds,
            "wall_seconds": self.wall_seconds,
            "samples_per_s": self.samples_per_s,
            "seeds": self.seeds,
            "budget_steps": self.budget_steps,
            "batch_size": self.batch_size,
            "phi_hash": self.phi_hash,
            "reward_hash": self.reward_hash,
            "data": self.data_fingerprint,
            "device": self.device,
        }
        if self.comparison is not None:
            out["comparison"] = self.comparison
        if self.notes:
            out["notes"] = self.notes
        return _round(out)

    def to_record(self) -> dict[str, Any]:
        """Everything, unrounded (for storing and :meth:`from_record`)."""
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> ProxyResult:
        return cls(**data)


def compare(result: ProxyResult, baseline: ProxyResult) -> dict[str, Any]:
    """Loss/AUC differences vs ``baseline`` with a test over seeds (see module doc)."""
    from scipy import stats

    diff = result.loss_mean - baseline.loss_mean
    reasons = []
    if result.reward_hash != baseline.reward_hash:
        reasons.append(
            "the reward section differs from the baseline's: a new label moves the loss "
            "landscape, so the proxy loss cannot rank it; judge it by the label's correlation "
            "with the north star and an A/B test"
        )
    if result.data_fingerprint != baseline.data_fingerprint:
        reasons.append("evaluated on different logged data")
    a, b = np.asarray(result.losses, float), np.asarray(baseline.losses, float)
    if result.seeds == baseline.seeds and a.size >= 2:
        test = "paired t-test over seeds"
        d = a - b
        p = 1.0 if np.allclose(d, d[0]) and d[0] == 0 else float(stats.ttest_rel(a, b).pvalue)
        if np.allclose(d, d[0]) and d[0] != 0:
            p = 0.0  # a constant non-zero shift on every seed
    elif a.size >= 2 and b.size >= 2:
        test = "Welch t-test"
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    else:
        test, p = "none (fewer than 2 seeds)", float("nan")
    significant = bool(math.isfinite(p) and p < ALPHA)
    comparable = not reasons
    return {
        "baseline_phi_hash": baseline.phi_hash,
        "loss_delta": diff,
        "loss_delta_pct": 100.0 * diff / baseline.loss_mean if baseline.loss_mean else None,
        "auc_delta": result.auc_mean - baseline.auc_mean,
        "test": test,
        "p_value": p,
        "significant": significant,
        "better": bool(comparable and significant and diff < 0),
        "comparable": comparable,
        "reason": "; ".join(reasons) if reasons else None,
        "params_delta": result.params - baseline.params,
        "latency_delta_ms_per_1k": result.latency_ms_per_1k - baseline.latency_ms_per_1k,
    }


def compute_loss(
    phi: Phi,
    data: LoggedData,
    *,
    budget: int | None = None,
    seeds: tuple[int, ...] | list[int] = (0, 1, 2),
    baseline: ProxyResult | None = None,
    device: str | None = None,
) -> ProxyResult:
    """Proxy-evaluate Φ: train ≤ ``budget`` steps per seed, measure on held-out users.

    ``budget`` defaults to min(Φ's own steps, ceil(DEFAULT_SAMPLE_BUDGET / batch size)).
    Raises ``ConstraintViolation`` before training when Φ exceeds its constraints and
    ``TrainingDiverged`` when a seed's loss goes non-finite.
    """
    start = time.perf_counter()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("compute_loss needs at least one seed")
    limits = check_constraints(phi, data.spec)
    n_train = int((~data.heldout).sum())
    batch = min(phi.training.batch_size, n_train)
    steps = planned_steps(phi, n_train)
    notes = []
    if budget is None:
        steps = min(steps, max(1, math.ceil(DEFAULT_SAMPLE_BUDGET / batch)))
    else:
        if budget < 1:
            raise ValueError("budget must be at least 1 step")
        steps = min(steps, int(budget))
    if steps < planned_steps(phi, n_train):
        notes.append(
            f"trained {steps} of the {planned_steps(phi, n_train)} steps Φ asks for (budget)"
        )
    losses, aucs, reward_losses, seconds, rates = [], [], [], 0.0, []
    dev = resolve_device(device)
    for seed in seeds:
        result = train(phi, data, seed=seed, device=dev, max_steps=steps, check=False)
        m = result.metrics
        losses.append(m["click_logloss"])
        aucs.append(m["click_auc"])
        reward_losses.append(m["heldout_reward_loss"])
        seconds += result.seconds
        rates.append(result.samples_per_s)
    out = ProxyResult(
        phi_hash=phi_hash(phi),
        reward_hash=reward_hash(phi),
        data_fingerprint=data.fingerprint,
        seeds=seeds,
        budget_steps=steps,
        batch_size=batch,
        losses=losses,
        aucs=aucs,
        reward_losses=reward_losses,
        train_seconds=seconds,
        wall_seconds=time.perf_counter() - start,
        samples_per_s=float(np.mean(rates)),
        params=int(limits["params"]),
        latency_ms_per_1k=float(limits["latency_ms_per_1k"]),
        device=str(dev),
        notes=notes,
    )
    if baseline is not None:
        out.comparison = compare(out, baseline)
    return out
