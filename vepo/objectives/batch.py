"""The data contract between the trainer and every objective.

Objectives only ever see these two dataclasses, so the trainer (TRL subclass) and the pure-torch math stay decoupled.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class PolicyBatch:  # (B, T) tensors unless noted; T = completion tokens
    logp: Tensor  # log πθ of sampled tokens, with grad
    old_logp: Tensor | None  # behaviour policy π_old, detached; None = on-policy (π_old = πθ, ratio 1)
    advantages: Tensor  # (B,) sequence advantages (objectives may temper them per token)
    mask: Tensor  # 1 for completion tokens
    entropy: Tensor | None = None  # per-token entropy of πθ; with grad only when Needs.entropy_grad asks for it
    ref_logp: Tensor | None = None
    token_ids: Tensor | None = None
    old_topk_logp: Tensor | None = None  # (B, T, K) rollout top-K log-probs (DPPO top-K)
    old_topk_ids: Tensor | None = None
    cur_topk_logp: Tensor | None = None  # (B, T, K) current policy log-probs at old_topk_ids
    sft_logp: Tensor | None = None  # (B', T') log πθ of reference-translation tokens, with grad (EGSPO hybrid term)
    sft_mask: Tensor | None = None  # (B', T') 1 for valid reference tokens (None → all valid)
    # (B, T) or (B, 1) importance weight of the trainer's policy over the rollout engine's sampler (TRL's vLLM
    # correction, already truncated or masked); multiplies every token's policy loss. None = the same engine.
    is_weight: Tensor | None = None


@dataclass
class TokenStats:
    """Per-token facts behind the loss, for the trainer's diagnostics (by entropy and rarity bucket)."""

    clipped: Tensor  # (B, T) bool: the clip or trust-region mask removed this token's gradient
    grad_weight: Tensor  # (B, T) |advantage × token weight| where the gradient survives, 0 where clipped


@dataclass
class ObjectiveOutput:
    loss: Tensor  # scalar to minimise
    metrics: dict[str, float]
    token_stats: TokenStats | None = None


def check_batch(batch: PolicyBatch) -> None:
    """Fail early with a readable message on shape mismatches (a silent broadcast would give a wrong loss)."""
    logp = batch.logp
    if logp.dim() != 2:
        raise ValueError(f"PolicyBatch.logp must be (B, T), got shape {tuple(logp.shape)}")
    shape = tuple(logp.shape)
    if tuple(batch.mask.shape) != shape:
        raise ValueError(f"PolicyBatch.mask shape {tuple(batch.mask.shape)} != logp shape {shape}")
    for name in ("old_logp", "entropy", "ref_logp", "token_ids"):
        value = getattr(batch, name)
        if value is not None and tuple(value.shape) != shape:
            raise ValueError(f"PolicyBatch.{name} shape {tuple(value.shape)} != logp shape {shape}")
    token_advantages(batch.advantages, logp)  # validates the advantage shape
    w = batch.is_weight
    if w is not None and not (w.dim() == 2 and w.shape[0] == shape[0] and w.shape[1] in (1, shape[1])):
        raise ValueError(f"PolicyBatch.is_weight must be (B, T) or (B, 1) with (B, T) = {shape}, got {tuple(w.shape)}")


def token_advantages(advantages: Tensor, like: Tensor) -> Tensor:
    """Return advantages shaped to broadcast against a (B, T) tensor.

    Broadcast rules: (B,) and (B, 1) → (B, 1), one value per sequence repeated over its tokens; (B, T) is used as is
    (per-token advantages). A bare (B,) is never broadcast against T directly: with B == T that would silently pair
    advantages with token positions.
    """
    B, T = like.shape
    if advantages.dim() == 1 and advantages.shape[0] == B:
        return advantages.unsqueeze(1)
    if advantages.dim() == 2 and advantages.shape[0] == B and advantages.shape[1] in (1, T):
        return advantages
    raise ValueError(f"advantages must be (B,), (B, 1) or (B, T) with B={B}, T={T}; got shape {tuple(advantages.shape)}")
