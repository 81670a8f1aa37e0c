"""The GRPO family: grpo, dapo and dr_grpo share one clipped-surrogate loss and differ only in defaults.

ℓ_t = −w_t · min(r_t A_t, clip(r_t, 1−ε_low, 1+ε_high) A_t) + β·k3_t, aggregated by `aggregation`.

Subclasses change one piece each through the hooks, never by copying `__call__`:
    importance_ratio   r_t (GSPO: the sequence ratio in token form)
    token_advantages   A_t from the sequence advantage Â (VEPO: entropy-tempered)
    token_weights      w_t, None = 1 (EGSPO: entropy gate)
    extra_terms        terms added to the aggregated loss (VEPO's entropy bonus, EGSPO's hybrid SFT term)
Each hook returns its own metrics beside its value. DAPO's dynamic sampling and soft overlong penalty act on rollouts
and rewards, so they live in the trainer and the reward package, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vepo.objectives.aggregation import aggregate, check_loss_params
from vepo.objectives.base import Objective
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch, TokenStats
from vepo.objectives.clipping import clip_fractions, clip_masks, clipped_surrogate, log_ratio_to_ratio
from vepo.objectives.masked import masked_mean, masked_var
from vepo.objectives.needs import Needs
from vepo.objectives.prepare import Prepared, add_kl_penalty, apply_is_weight, prepare
from vepo.objectives.registry import register_objective

Metrics = dict[str, float]


@torch.no_grad()
def clipped_policy_metrics(loss: Tensor, ratio: Tensor, adv: Tensor, p: Prepared, eps_low, eps_high,
                           kl: Tensor | None) -> Metrics:
    """The metrics every clipped-ratio objective reports: loss, clip fractions, ratio, KL, entropy, advantages."""
    mask = p.mask
    metrics = {"loss": loss.item()}
    metrics.update(clip_fractions(ratio, adv, mask, eps_low, eps_high))
    metrics["ratio_mean"] = masked_mean(ratio, mask).item()
    if kl is not None:
        metrics["kl"] = masked_mean(kl, mask).item()
    if p.entropy is not None:
        metrics["entropy_mean"] = masked_mean(p.entropy, mask).item()
    # Sequence advantages: mean/std over the B sequences; per-token ones: over valid tokens.
    # Population std, so a single sequence gives 0, not NaN.
    adv_mask = torch.ones_like(adv) if adv.shape[1] == 1 else mask
    metrics["adv_mean"] = masked_mean(adv, adv_mask).item()
    metrics["adv_std"] = masked_var(adv, adv_mask).sqrt().item()
    return metrics


@torch.no_grad()
def clipped_token_stats(ratio: Tensor, adv: Tensor, weight: Tensor | None, eps_low, eps_high) -> TokenStats:
    low, high = clip_masks(ratio, adv, eps_low, eps_high)
    clipped = low | high
    magnitude = adv.abs().expand_as(ratio) if weight is None else (adv * weight).abs().expand_as(ratio)
    return TokenStats(clipped=clipped, grad_weight=torch.where(clipped, torch.zeros_like(magnitude), magnitude))


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

    def needs(self) -> Needs:
        return Needs(advantage=self.advantage, ref_logp=self.beta > 0.0)

    # ---- hooks ------------------------------------------------------------------------------------------------
    def importance_ratio(self, logp: Tensor, old: Tensor, mask: Tensor) -> Tensor:
        """Per-token ratio r_t = π/π_old (GSPO overrides this with the sequence ratio in token form)."""
        return log_ratio_to_ratio(logp - old)

    def token_advantages(self, p: Prepared, batch: PolicyBatch) -> tuple[Tensor, Metrics]:
        """A_t: (B, 1) or (B, T), detached. GRPO uses the sequence advantage as is."""
        return p.adv, {}

    def token_weights(self, p: Prepared, batch: PolicyBatch) -> tuple[Tensor | None, Metrics]:
        """w_t (B, T), detached, or None for 1 everywhere."""
        return None, {}

    def extra_terms(self, p: Prepared, batch: PolicyBatch) -> tuple[Tensor | None, Metrics]:
        """A scalar added to the aggregated loss, or None."""
        return None, {}

    # ---- loss -------------------------------------------------------------------------------------------------
    def __call__(self, batch: PolicyBatch) -> ObjectiveOutput:
        p = prepare(batch, self.name, needs_entropy=self.needs().entropy)
        adv, metrics = self.token_advantages(p, batch)
        weight, weight_metrics = self.token_weights(p, batch)

        ratio = self.importance_ratio(p.logp, p.old, p.mask)
        per_token = clipped_surrogate(ratio, adv, self.epsilon_low, self.epsilon_high)
        if weight is not None:
            per_token = weight * per_token
        per_token = apply_is_weight(per_token, batch, p.dtype)
        per_token, kl = add_kl_penalty(per_token, p, batch, self.beta, self.name)
        loss = aggregate(per_token, p.mask, self.aggregation, self.max_completion_length)
        extra, extra_metrics = self.extra_terms(p, batch)
        if extra is not None:
            loss = loss + extra

        out = clipped_policy_metrics(loss, ratio, adv, p, self.epsilon_low, self.epsilon_high, kl)
        out.update(metrics)
        out.update(weight_metrics)
        out.update(extra_metrics)
        stats = clipped_token_stats(ratio, adv, weight, self.epsilon_low, self.epsilon_high)
        return ObjectiveOutput(loss=loss, metrics=out, token_stats=stats)


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
