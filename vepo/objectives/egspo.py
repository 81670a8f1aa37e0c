"""EGSPO: entropy-gated selective policy optimisation (arXiv 2602.03309; docs/design/algorithms.md "EGSPO").

    h     = (1−q) quantile of H_t over the valid tokens of the micro-batch (torch.quantile, linear interpolation)
    w_t   = 1 if H_t ≥ h else φ              (all-masked micro-batch: no gating)
    ℓ_t   = −w_t · min(r Â, clip(r, 1−ε_low, 1+ε_high) Â) (+ β·k3_t, not gated),  token_mean

So the top-q share of tokens by entropy keeps the full gradient and the rest is attenuated to φ; both keep Â (confident
wrong tokens are still pushed down). With φ=1 the loss is DAPO's token_mean clipped loss.

Optional hybrid term (CHORD-φ style), on reference translations y* scored by the current policy:

    + μ_step · mean over valid reference tokens of [ −p_t (1−p_t) · log πθ(y*_t) ],  p_t = sg(πθ(y*_t))

from PolicyBatch.sft_logp / sft_mask (sft_mask None → every position valid). μ follows `mu_at(step)`: linear warm-up
0 → mu_max over mu_warmup_steps, then cosine decay to 0 at mu_total_steps (0 after); mu_max=0 disables the term. The
step is `state["step"]` (completed optimiser steps, incremented by `on_step_end`), so μ=0 on the very first step as
with HF's warm-up schedulers. μ > 0 without sft_logp in the batch skips the term (metric hybrid_active=0).

Stage 1 (SFT warm-up on reference translations) is a trainer setting, not a loss parameter: the pipeline runs it
with `algo.trainer.sft_warmup_steps` / `sft_warmup_lr` (falling back to `train.sft_steps` / `train.sft_lr`).

Metrics: loss, gated_frac (share of valid tokens attenuated, ≈ 1−q), full_weight_frac (≈ q), entropy_threshold,
mu, hybrid_active, hybrid_loss (when active), clip_frac (+ _low/_high), ratio_mean, entropy_mean.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from vepo.objectives.batch import PolicyBatch
from vepo.objectives.grpo import GRPO
from vepo.objectives.masked import masked_mean
from vepo.objectives.needs import Needs
from vepo.objectives.prepare import Prepared
from vepo.objectives.registry import register_objective


@register_objective("egspo")
@dataclass
class EGSPO(GRPO):
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    beta: float = 0.0
    aggregation: str = "token_mean"
    advantage: str = "group"
    top_quantile: float = 0.2  # q: tokens with H ≥ the (1−q) quantile keep weight 1
    phi: float = 0.1  # weight of the other (low-entropy) tokens
    mu_max: float = 0.0  # hybrid term peak weight; 0 disables it
    mu_warmup_steps: int = 10
    mu_total_steps: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.top_quantile < 1.0:
            raise ValueError(f"top_quantile must be in (0, 1), got {self.top_quantile!r}")
        if not 0.0 <= self.phi <= 1.0:
            raise ValueError(f"phi must be in [0, 1], got {self.phi!r}")
        if self.mu_max < 0.0:
            raise ValueError(f"mu_max must be >= 0, got {self.mu_max!r}")
        if int(self.mu_warmup_steps) < 0 or int(self.mu_total_steps) < int(self.mu_warmup_steps):
            raise ValueError(
                f"need 0 <= mu_warmup_steps <= mu_total_steps, got {self.mu_warmup_steps!r}, {self.mu_total_steps!r}"
            )
        self.state["step"] = 0

    def mu_at(self, step: int) -> float:
        """Hybrid weight after `step` completed optimiser steps (warm-up, then cosine decay to 0)."""
        if self.mu_max == 0.0:
            return 0.0
        warm, total = int(self.mu_warmup_steps), int(self.mu_total_steps)
        if step < warm:
            return self.mu_max * step / warm
        if step >= total:
            return 0.0
        return self.mu_max * 0.5 * (1.0 + math.cos(math.pi * (step - warm) / (total - warm)))

    def on_step_end(self, metrics: dict[str, float]) -> None:
        self.state["step"] = int(self.state.get("step", 0)) + 1

    def needs(self) -> Needs:
        return dataclasses.replace(super().needs(), entropy=True, reference_tokens=self.mu_max > 0.0)

    def token_weights(self, p: Prepared, batch: PolicyBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The entropy gate: 1 for tokens at or above the (1−q) entropy quantile of the micro-batch, φ below."""
        entropy, valid = p.entropy, p.mask != 0
        valid_h = entropy[valid]
        if valid_h.numel() > 0:
            threshold = torch.quantile(valid_h, 1.0 - self.top_quantile)
            full = entropy >= threshold
        else:  # nothing valid: no gating
            threshold = entropy.new_zeros(())
            full = torch.ones_like(valid)
        weight = torch.where(full, torch.ones_like(entropy), torch.full_like(entropy, self.phi))
        metrics = {
            "gated_frac": masked_mean((~full).to(p.dtype), valid).item(),
            "full_weight_frac": masked_mean(full.to(p.dtype), valid).item(),
            "entropy_threshold": threshold.item(),
        }
        return weight, metrics

    def extra_terms(self, p: Prepared, batch: PolicyBatch) -> tuple[torch.Tensor | None, dict[str, float]]:
        """μ_step × the hybrid SFT term on reference translations, when μ > 0 and the batch carries them."""
        mu = self.mu_at(int(self.state.get("step", 0)))
        metrics = {"mu": float(mu), "hybrid_active": 0.0}
        if mu <= 0.0 or batch.sft_logp is None:
            return None, metrics
        hybrid = self._hybrid_term(batch, p.dtype)
        metrics.update(hybrid_active=1.0, hybrid_loss=hybrid.item())
        return mu * hybrid, metrics

    @staticmethod
    def _hybrid_term(batch: PolicyBatch, dtype: torch.dtype) -> torch.Tensor:
        """mean over valid reference tokens of −p(1−p)·log πθ(y*), p = sg(exp(log πθ(y*)))."""
        sft_logp = batch.sft_logp
        if sft_logp.dim() != 2:
            raise ValueError(f"PolicyBatch.sft_logp must be (B', T'), got shape {tuple(sft_logp.shape)}")
        sft_mask = torch.ones_like(sft_logp) if batch.sft_mask is None else batch.sft_mask
        if tuple(sft_mask.shape) != tuple(sft_logp.shape):
            raise ValueError(
                f"PolicyBatch.sft_mask shape {tuple(sft_mask.shape)} != sft_logp shape {tuple(sft_logp.shape)}"
            )
        # Junk at padded positions (e.g. -inf) must not reach p or the gradient: select it away first.
        lp = torch.where(sft_mask != 0, sft_logp.to(dtype), torch.zeros((), dtype=dtype, device=sft_logp.device))
        p = torch.exp(lp.detach())
        return masked_mean(-p * (1.0 - p) * lp, sft_mask)
