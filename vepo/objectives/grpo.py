"""The GRPO family: grpo, dapo and dr_grpo share one clipped-surrogate loss and differ only in defaults.

ℓ_t = −min(r_t Â, clip(r_t, 1−ε_low, 1+ε_high) Â) + β·k3_t, aggregated by `aggregation`.
DAPO's dynamic sampling and soft overlong penalty act on rollouts and rewards, so they live in the trainer and the
reward package, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vepo.objectives.aggregation import aggregate, check_loss_params
from vepo.objectives.base import Objective
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch
from vepo.objectives.clipping import clip_fractions, clipped_surrogate, log_ratio_to_ratio
from vepo.objectives.masked import masked_mean, masked_var
from vepo.objectives.prepare import add_kl_penalty, prepare
from vepo.objectives.registry import register_objective


@register_objective("grpo")
@dataclass
class GRPO(Objective):
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    beta: float = 0.04
    aggregation: str = "seq_mean_token_mean"
    max_completion_length: int | None = None  # only read by seq_mean_token_sum_norm
    advantage: str = "group"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.epsilon_low < 1.0:
            raise ValueError(f"epsilon_low must be in [0, 1), got {self.epsilon_low!r}")
        if self.epsilon_high < 0.0:
            raise ValueError(f"epsilon_high must be >= 0, got {self.epsilon_high!r}")
        check_loss_params(self.beta, self.aggregation, self.max_completion_length)

    def importance_ratio(self, logp: torch.Tensor, old: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token ratio r_t = π/π_old (GSPO overrides this with the sequence ratio in token form)."""
        return log_ratio_to_ratio(logp - old)

    def __call__(self, batch: PolicyBatch) -> ObjectiveOutput:
        p = prepare(batch, self.name)
        dtype, logp, old, adv, mask = p.dtype, p.logp, p.old, p.adv, p.mask

        ratio = self.importance_ratio(logp, old, mask)
        per_token = clipped_surrogate(ratio, adv, self.epsilon_low, self.epsilon_high)
        per_token, kl = add_kl_penalty(per_token, p, batch, self.beta, self.name)
        loss = aggregate(per_token, mask, self.aggregation, self.max_completion_length)

        with torch.no_grad():
            metrics = {"loss": loss.item()}
            metrics.update(clip_fractions(ratio, adv, mask, self.epsilon_low, self.epsilon_high))
            metrics["ratio_mean"] = masked_mean(ratio, mask).item()
            if kl is not None:
                metrics["kl"] = masked_mean(kl, mask).item()
            if batch.entropy is not None:
                metrics["entropy_mean"] = masked_mean(batch.entropy.to(dtype), mask).item()
            # Sequence advantages: mean/std over the B sequences; per-token ones: over valid tokens.
            # Population std, so a single sequence gives 0, not NaN.
            adv_mask = torch.ones_like(adv) if adv.shape[1] == 1 else mask
            metrics["adv_mean"] = masked_mean(adv, adv_mask).item()
            metrics["adv_std"] = masked_var(adv, adv_mask).sqrt().item()
        return ObjectiveOutput(loss=loss, metrics=metrics)


@register_objective("dapo")
@dataclass
class DAPO(GRPO):
    epsilon_low: float = 0.2
    epsilon_high: float = 0.28  # clip-higher
    beta: float = 0.0
    aggregation: str = "token_mean"
    advantage: str = "group"


@register_objective("dr_grpo")
@dataclass
class DrGRPO(GRPO):
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    beta: float = 0.0
    aggregation: str = "seq_mean_token_sum_norm"
    max_completion_length: int | None = 128
    advantage: str = "dr_grpo"
