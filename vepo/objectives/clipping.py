"""Importance ratios, the PPO clipped surrogate, the k3 KL estimator and clip statistics."""

from __future__ import annotations

import torch
from torch import Tensor

from vepo.objectives.batch import token_advantages
from vepo.objectives.masked import masked_mean

LOG_RATIO_CLAMP = 20.0


def log_ratio_to_ratio(log_ratio: Tensor, clamp: float = LOG_RATIO_CLAMP) -> Tensor:
    """exp(log_ratio) with the log-ratio clamped to [-clamp, clamp] first.

    The clamp is the identity for |log-ratio| <= 20 (ratios in [2e-9, 4.9e8]), so every realistic token gets the exact
    value and gradient (and matches TRL). It only bites on runaway or padding tokens, where an unclamped exp overflows
    (exp(89) = inf in fp32) and inf · 0 in backward would turn the masked-out gradients into NaN. There the gradient
    is 0: such a ratio carries no usable signal.
    """
    return torch.exp(log_ratio.clamp(-clamp, clamp))


def clipped_surrogate(ratio: Tensor, adv: Tensor, eps_low: float, eps_high: float) -> Tensor:
    """Per-token PPO loss −min(r·A, clip(r, 1−ε_low, 1+ε_high)·A); adv (B,), (B, 1) or (B, T)."""
    adv = token_advantages(adv, ratio) if ratio.dim() == 2 else adv
    unclipped = ratio * adv
    clipped = ratio.clamp(1.0 - eps_low, 1.0 + eps_high) * adv
    return -torch.minimum(unclipped, clipped)


def k3_kl(logp: Tensor, ref_logp: Tensor, clamp: float = LOG_RATIO_CLAMP) -> Tensor:
    """Schulman's k3 estimator of KL(πθ‖π_ref): exp(ref−logp) − (ref−logp) − 1 (≥ 0, unbiased).

    Same clamp as log_ratio_to_ratio on ref−logp, for the same reason (finite values and gradients on junk tokens).
    """
    d = (ref_logp - logp).clamp(-clamp, clamp)
    return torch.exp(d) - d - 1.0


@torch.no_grad()
def clip_masks(ratio: Tensor, adv: Tensor, eps_low, eps_high) -> tuple[Tensor, Tensor]:
    """(low, high) (B, T) bools of the tokens whose gradient the clip removed (TRL's definitions):
    low: r < 1−ε_low and A < 0; high: r > 1+ε_high and A > 0. ε may be scalars or (B, T) tensors."""
    adv = token_advantages(adv, ratio).expand_as(ratio)
    return (ratio < 1.0 - eps_low) & (adv < 0), (ratio > 1.0 + eps_high) & (adv > 0)


@torch.no_grad()
def clip_fractions(ratio: Tensor, adv: Tensor, mask: Tensor, eps_low, eps_high) -> dict[str, float]:
    """Share of valid tokens whose gradient the clip removed: clip_frac_low, clip_frac_high, clip_frac (either)."""
    low, high = clip_masks(ratio, adv, eps_low, eps_high)
    low, high = low.float(), high.float()
    return {
        "clip_frac": masked_mean(torch.maximum(low, high), mask).item(),
        "clip_frac_low": masked_mean(low, mask).item(),
        "clip_frac_high": masked_mean(high, mask).item(),
    }
