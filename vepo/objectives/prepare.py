"""What every objective does first: validate the batch, lift it to ≥ fp32, fill in the on-policy anchor; and the
k3 KL penalty that any objective may add with β > 0. Written once so the objectives differ only in their math."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vepo.objectives.batch import PolicyBatch, check_batch, token_advantages
from vepo.objectives.clipping import k3_kl


@dataclass(frozen=True)
class Prepared:
    dtype: torch.dtype
    logp: Tensor  # (B, T), with grad
    old: Tensor  # (B, T), detached
    adv: Tensor  # (B, 1) or (B, T), detached
    mask: Tensor
    entropy: Tensor | None  # (B, T), detached


def prepare(batch: PolicyBatch, name: str, needs_entropy: bool = False) -> Prepared:
    check_batch(batch)
    if needs_entropy and batch.entropy is None:
        raise ValueError(f"objective {name!r} needs per-token entropies (PolicyBatch.entropy is None)")
    # Compute in at least fp32: ratios of bf16 log-probs are too coarse for a 0.2 clip.
    dtype = torch.promote_types(batch.logp.dtype, torch.float32)
    logp = batch.logp.to(dtype)
    # No behaviour log-probs = on-policy (the batch was sampled by the current weights): old == logp numerically, and
    # detaching gives r = 1 with the policy-gradient ∇ of r.
    old = logp.detach() if batch.old_logp is None else batch.old_logp.detach().to(dtype)
    adv = token_advantages(batch.advantages.detach().to(dtype), logp)
    entropy = None if batch.entropy is None else batch.entropy.detach().to(dtype)
    return Prepared(dtype=dtype, logp=logp, old=old, adv=adv, mask=batch.mask, entropy=entropy)


def apply_is_weight(per_token: Tensor, batch: PolicyBatch, dtype: torch.dtype) -> Tensor:
    """Policy loss × the rollout engine's importance weight (TRL's vLLM correction), when the batch carries one."""
    if batch.is_weight is None:
        return per_token
    return per_token * batch.is_weight.detach().to(dtype)


def add_kl_penalty(per_token: Tensor, p: Prepared, batch: PolicyBatch, beta: float,
                   name: str) -> tuple[Tensor, Tensor | None]:
    """per_token + β·k3(ref, logp) when β > 0 (returns the k3 term for metrics), unchanged otherwise."""
    if beta <= 0.0:
        return per_token, None
    if batch.ref_logp is None:
        raise ValueError(f"objective {name!r} has beta={beta} > 0 but the batch has no ref_logp")
    kl = k3_kl(p.logp, batch.ref_logp.detach().to(p.dtype))
    return per_token + beta * kl, kl
