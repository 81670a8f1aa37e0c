"""VEPO: variable entropy policy optimisation (arXiv 2603.19152; docs/design/algorithms.md "VEPO").

The paper's equations were not public: this is vepo's own formulation of its ideas, not a transcription.

Loss (asymmetric clip, token_mean, β=0 by default):

    f_t     = clamp(1 + λ·(H_t / H̄ − 1), 1−c, 1+c)        H̄ = mean H over the valid tokens of the micro-batch
                                                          (H̄ = 0 → f_t = 1)
    A_{i,t} = Â_i · f_t                                   (entropy-tempered advantage; H detached)
    ℓ_t     = −min(r_t A_{i,t}, clip(r_t, 1−ε_low, 1+ε_high) A_{i,t}) (+ β·k3_t)

λ is controller state, updated after each optimiser step by `on_step_end(metrics)`:

    H̄_step = metrics["entropy_mean"], else metrics["objective/entropy_mean"] (vepo's trainer log key), else
             metrics["entropy"] (TRL's), else the last micro-batch's H̄ seen by __call__
    first step with a positive H̄: H_0 = H̄_step, H* = ρ·H_0
    λ ← clamp(λ + η·(H* − H̄_step)/H*, 0, λ_max)          (also on that first step)

State: {"lambda", "H0", "target_entropy", "step", "last_entropy"}; `state_dict()` / `load_state_dict()` checkpoint it.
Non-finite or missing entropies skip the update (the step counter still advances).

Optional entropy bonus (entropy_coef = c_H > 0): loss −= c_H · mean_t H_t over valid tokens, only while the batch's
H̄ < H*. With entropy_coef > 0, `needs()` asks the trainer for an entropy that carries gradient, so the bonus acts on
the update (entropy_bonus_active=1); a batch with a detached entropy (a direct caller) only reports it
(entropy_bonus, entropy_bonus_active=0). The tempering always uses the detached entropy.

Metrics: loss, lambda, entropy_mean, target_entropy (once known), adv_token_spread (population std of f_t over valid
tokens), clip_frac (+ _low/_high), ratio_mean, and entropy_bonus / entropy_bonus_active when entropy_coef > 0.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from vepo.objectives.batch import PolicyBatch
from vepo.objectives.grpo import GRPO
from vepo.objectives.masked import masked_count, masked_mean, masked_var
from vepo.objectives.needs import Needs
from vepo.objectives.prepare import Prepared
from vepo.objectives.registry import register_objective


def _finite_float(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@register_objective("vepo")
@dataclass
class VEPO(GRPO):
    epsilon_low: float = 0.2
    epsilon_high: float = 0.28
    beta: float = 0.0
    aggregation: str = "token_mean"
    advantage: str = "group"
    lambda_init: float = 0.5  # λ_0
    lambda_max: float = 2.0
    eta: float = 0.1  # controller gain η
    rho: float = 0.8  # target ratio: H* = ρ·H_0
    temper_clip: float = 0.5  # c: the tempering factor stays in [1−c, 1+c]
    entropy_coef: float = 0.0  # c_H of the gated entropy bonus (needs differentiable entropy, see module doc)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lambda_max < 0.0:
            raise ValueError(f"lambda_max must be >= 0, got {self.lambda_max!r}")
        if not 0.0 <= self.lambda_init <= self.lambda_max:
            raise ValueError(f"lambda_init must be in [0, lambda_max={self.lambda_max}], got {self.lambda_init!r}")
        if self.eta < 0.0:
            raise ValueError(f"eta must be >= 0, got {self.eta!r}")
        if not self.rho > 0.0:
            raise ValueError(f"rho must be > 0, got {self.rho!r}")
        if not 0.0 <= self.temper_clip < 1.0:
            raise ValueError(f"temper_clip must be in [0, 1), got {self.temper_clip!r}")
        if self.entropy_coef < 0.0:
            raise ValueError(f"entropy_coef must be >= 0, got {self.entropy_coef!r}")
        self.state.update(
            {"lambda": float(self.lambda_init), "H0": None, "target_entropy": None, "step": 0, "last_entropy": None}
        )

    def needs(self) -> Needs:
        # The entropy bonus only changes the update when the entropy carries gradient: ask for it when it is on.
        return dataclasses.replace(super().needs(), entropy=True, entropy_grad=self.entropy_coef > 0.0)

    def tempering_factor(self, entropy: torch.Tensor, mask: torch.Tensor, lam: float) -> torch.Tensor:
        """f_t = clamp(1 + λ(H_t/H̄ − 1), 1−c, 1+c) on valid tokens, 1 elsewhere and when H̄ = 0 (no grad)."""
        valid = mask != 0
        h_mean = masked_mean(entropy, mask)
        safe_mean = torch.where(h_mean > 0, h_mean, torch.ones_like(h_mean))
        c = self.temper_clip
        factor = (1.0 + lam * (entropy / safe_mean - 1.0)).clamp(1.0 - c, 1.0 + c)
        return torch.where(valid & (h_mean > 0), factor, torch.ones_like(factor))

    def token_advantages(self, p: Prepared, batch: PolicyBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """Entropy-tempered advantages A_{i,t} = Â_i·f_t with the current λ (and the micro-batch's H̄ for the
        controller's fallback)."""
        lam = float(self.state.get("lambda", self.lambda_init))
        factor = self.tempering_factor(p.entropy, p.mask, lam)
        with torch.no_grad():
            h_mean = masked_mean(p.entropy, p.mask).item()
            if masked_count(p.mask).item() > 0:
                self.state["last_entropy"] = h_mean
        metrics = {"lambda": lam, "adv_token_spread": masked_var(factor, p.mask).sqrt().item()}
        if self.state.get("target_entropy") is not None:
            metrics["target_entropy"] = float(self.state["target_entropy"])
        return p.adv * factor, metrics

    def extra_terms(self, p: Prepared, batch: PolicyBatch) -> tuple[torch.Tensor | None, dict[str, float]]:
        """The gated entropy bonus −c_H·mean H while the batch's H̄ is below H*; it acts only when the entropy
        carries gradient (Needs.entropy_grad), and is reported either way."""
        if self.entropy_coef <= 0.0:
            return None, {}
        target = self.state.get("target_entropy")
        h_mean = masked_mean(p.entropy, p.mask).item()
        on = target is not None and masked_count(p.mask).item() > 0 and h_mean < target
        active = on and batch.entropy.requires_grad
        metrics = {"entropy_bonus": self.entropy_coef * h_mean if on else 0.0,
                   "entropy_bonus_active": 1.0 if active else 0.0}
        if not active:
            return None, metrics
        return -self.entropy_coef * masked_mean(batch.entropy.to(p.dtype), p.mask), metrics

    def on_step_end(self, metrics: dict[str, float]) -> None:
        s = self.state
        h = None
        for key in ("entropy_mean", "objective/entropy_mean", "entropy"):
            if key in metrics:
                h = metrics[key]
                break
        else:
            h = s.get("last_entropy")
        h = _finite_float(h)
        s["step"] = int(s.get("step", 0)) + 1
        if h is None:
            return
        s["last_entropy"] = h  # the step's value (every process's mean), not this process's last micro-batch
        if s.get("H0") is None:
            if h <= 0.0:  # a zero first entropy would give H* = 0: wait for a usable one
                return
            s["H0"] = h
            s["target_entropy"] = self.rho * h
        target = float(s["target_entropy"])
        lam = float(s.get("lambda", self.lambda_init)) + self.eta * (target - h) / target
        s["lambda"] = min(max(lam, 0.0), self.lambda_max)
