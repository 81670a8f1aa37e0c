"""Where an objective spends its gradient: per-step statistics by entropy quintile and by token-rarity quintile.

For each bucket b of the valid tokens (pure torch, detached):
    token_share  = |b| / |valid|
    clip_frac    = share of b's tokens whose gradient the clip or trust-region mask removed
    grad_share   = Σ_b |A·w| / Σ_valid |A·w|, the bucket's share of the gradient weight on unclipped tokens
Entropy buckets are the quintiles of the batch's valid-token entropies (so each holds about a fifth of the tokens
unless entropies tie; the interest is in clip_frac and grad_share). Rarity buckets are fixed fifths of the rarity
score r ∈ [0, 1] (rarity.py: a percentile rank over the vocabulary seen in the training targets, 1 = unseen), so
token_share shows how many sampled tokens are rare. Also kl_old: the k3 estimate of KL(π_old ‖ πθ) per token, the
distance the policy has actually moved from the rollout policy (0 on-policy).

Metric names (stable; metrics.jsonl and W&B): diag/entropy_q{1..5}/{token_share,clip_frac,grad_share} (q1 = lowest
entropy), diag/rarity_q{1..5}/… (q1 = most frequent), diag/kl_old. A bucket with no token reports token_share 0 and
no clip_frac / grad_share.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vepo.objectives.batch import TokenStats
from vepo.objectives.clipping import k3_kl
from vepo.objectives.masked import masked_mean

N_BUCKETS = 5


def _bucket_metrics(prefix: str, bucket: Tensor, valid: Tensor, stats: TokenStats) -> dict[str, float]:
    """Metrics of the N_BUCKETS buckets; bucket (B, T) long in [0, N_BUCKETS), read where valid."""
    onehot = torch.nn.functional.one_hot(bucket.clamp(0, N_BUCKETS - 1), N_BUCKETS).bool() & valid.unsqueeze(-1)
    w = onehot.to(torch.float64)  # (B, T, N)
    tokens = w.sum((0, 1))
    clipped = (w * stats.clipped.unsqueeze(-1)).sum((0, 1))
    grad = (w * stats.grad_weight.detach().to(torch.float64).unsqueeze(-1)).sum((0, 1))
    n, g = tokens.sum().clamp(min=1.0), grad.sum()
    values = torch.stack([tokens / n, clipped / tokens.clamp(min=1.0), grad / g.clamp(min=1e-30)]).tolist()
    out = {}
    for b in range(N_BUCKETS):
        name = f"diag/{prefix}_q{b + 1}"
        out[f"{name}/token_share"] = values[0][b]
        if tokens[b] > 0:
            out[f"{name}/clip_frac"] = values[1][b]
            if g > 0:
                out[f"{name}/grad_share"] = values[2][b]
    return out


def entropy_buckets(entropy: Tensor, valid: Tensor) -> Tensor:
    """(B, T) quintile index of each token's entropy among the batch's valid tokens (0 = lowest)."""
    h = entropy.detach().float()
    if not valid.any():
        return torch.zeros_like(h, dtype=torch.long)
    edges = torch.quantile(h[valid], torch.linspace(0, 1, N_BUCKETS + 1, device=h.device)[1:-1])
    return torch.bucketize(h, edges, right=True)


def rarity_buckets(rarity: Tensor) -> Tensor:
    """(B, T) fifth of the rarity score [0, 0.2) … [0.8, 1] (0 = most frequent)."""
    return (rarity.float() * N_BUCKETS).long().clamp(0, N_BUCKETS - 1)


@torch.no_grad()
def bucket_diagnostics(stats: TokenStats, mask: Tensor, entropy: Tensor | None, rarity: Tensor | None,
                       logp: Tensor, old_logp: Tensor | None) -> dict[str, float]:
    """All diag/… metrics of one micro-batch (entropy / rarity buckets only when those tensors are given)."""
    valid = mask != 0
    out: dict[str, float] = {}
    if entropy is not None:
        out.update(_bucket_metrics("entropy", entropy_buckets(entropy, valid), valid, stats))
    if rarity is not None:
        out.update(_bucket_metrics("rarity", rarity_buckets(rarity), valid, stats))
    lp = logp.detach().float()
    old = lp if old_logp is None else old_logp.detach().float()
    out["diag/kl_old"] = masked_mean(k3_kl(old, lp), mask).item()
    return out
