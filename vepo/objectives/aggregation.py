"""Per-token loss → scalar: the one shared implementation of the aggregation modes (docs/design/algorithms.md).

All denominators are clamped at 1 so all-masked rows and fully masked batches give 0, never NaN.
"""

from __future__ import annotations

from torch import Tensor

from vepo.objectives.masked import masked_count, masked_sum

AGGREGATION_MODES = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")


def aggregate(per_token_loss: Tensor, mask: Tensor, mode: str, max_completion_length: int | None = None) -> Tensor:
    """Reduce a (B, T) per-token loss (or (B, 1), broadcast over T) under a (B, T) mask.

    token_mean               Σ_{i,t} ℓ m / Σ m                  (DAPO; every token weighs the same)
    seq_mean_token_mean      mean_i (Σ_t ℓ m / Σ_t m)           (GRPO; every sequence weighs the same;
                                                                  all-masked rows count as 0 in the mean, as TRL)
    seq_mean_token_sum_norm  Σ_{i,t} ℓ m / (B · L_max)          (Dr. GRPO; constant normaliser, no length bias)
    """
    if mode not in AGGREGATION_MODES:
        raise ValueError(f"unknown aggregation mode {mode!r}; allowed: {', '.join(AGGREGATION_MODES)}")
    if mask.dim() != 2:
        raise ValueError(f"mask must be (B, T), got shape {tuple(mask.shape)}")
    loss = per_token_loss.expand_as(mask) if per_token_loss.shape != mask.shape else per_token_loss
    B = loss.shape[0]
    if mode == "token_mean":
        return masked_sum(loss, mask) / masked_count(mask).clamp(min=1.0)
    if mode == "seq_mean_token_mean":
        per_seq = masked_sum(loss, mask, dim=-1) / masked_count(mask, dim=-1).clamp(min=1.0)
        return per_seq.sum() / max(B, 1)
    if max_completion_length is None or int(max_completion_length) < 1:
        raise ValueError(
            f"aggregation 'seq_mean_token_sum_norm' needs max_completion_length >= 1, got {max_completion_length!r}"
        )
    return masked_sum(loss, mask) / (max(B, 1) * int(max_completion_length))


def check_loss_params(beta: float, aggregation: str, max_completion_length: int | None) -> None:
    """Constructor checks shared by every objective with a KL weight and an aggregation mode."""
    if beta < 0.0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    if aggregation not in AGGREGATION_MODES:
        raise ValueError(f"unknown aggregation mode {aggregation!r}; allowed: {', '.join(AGGREGATION_MODES)}")
    if max_completion_length is not None and int(max_completion_length) < 1:
        raise ValueError(f"max_completion_length must be >= 1, got {max_completion_length!r}")
    if aggregation == "seq_mean_token_sum_norm" and max_completion_length is None:
        raise ValueError("aggregation 'seq_mean_token_sum_norm' needs max_completion_length")
