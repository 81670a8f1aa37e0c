"""Divergences between the rollout policy (m) and the current policy (p or q) for DPPO's trust-region mask.

One implementation of each: binary TV / KL on the sampled token's probability, and top-K TV / KL over the rollout
policy's top-K tokens with the sampled token forced in plus a 'rest' bucket (docs/design/algorithms.md "DPPO").

Every function here feeds a detached mask: callers run them under no_grad, in at least fp32.
Finiteness: probabilities are clamped to [PROB_EPS, 1 − PROB_EPS] inside logs, and 0·log 0 = 0, so the results are
finite for p or m exactly 0 or 1 (and for log-probs of −inf). The clamps only change values for probabilities below
1e-8 (or within 1e-8 of 1), where the divergence is far above any trust-region δ anyway, and they can push a KL a few
1e-8 below 0; KLs are therefore clamped at 0 (KL ≥ 0) and TVs to [0, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor

PROB_EPS = 1e-8  # probability clamp inside logs (and the binary KL's own +1e-8)


def _float(x: Tensor) -> Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _safe_log(x: Tensor) -> Tensor:
    return torch.log(x.clamp(PROB_EPS, 1.0 - PROB_EPS))


def _plogp_ratio(a: Tensor, b: Tensor) -> Tensor:
    """a·log(a/b) with 0·log 0 = 0 and both probabilities clamped inside the log."""
    return torch.where(a > 0, a * (_safe_log(a) - _safe_log(b)), torch.zeros_like(a))


# ---------------------------------------------------------------- binary (sampled token only)
def binary_tv(p: Tensor, m: Tensor) -> Tensor:
    """D = |p − m|: the TV distance between the two Bernoulli distributions {sampled token, everything else}."""
    return (_float(p) - _float(m)).abs()


def binary_kl(p: Tensor, m: Tensor) -> Tensor:
    """D = m·log(m/p) + (1−m)·log((1−m+1e-8)/(1−p+1e-8)): KL(Bernoulli(m) ‖ Bernoulli(p)).

    p and m are clamped to [1e-8, 1 − 1e-8] inside the logs (the identity on that interval, so interior values follow
    the formula exactly); the outer factors m and 1 − m are not clamped, so m = 0 or 1 gives exactly 0·finite = 0.
    """
    p, m = _float(p), _float(m)
    pc, mc = p.clamp(PROB_EPS, 1.0 - PROB_EPS), m.clamp(PROB_EPS, 1.0 - PROB_EPS)
    first = m * (torch.log(mc) - torch.log(pc))
    second = (1.0 - m) * (torch.log(1.0 - mc + PROB_EPS) - torch.log(1.0 - pc + PROB_EPS))
    return (first + second).clamp(min=0.0)


# ---------------------------------------------------------------- top-K (+ forced sampled token, + rest bucket)
def topk_distributions(
    old_topk_logp: Tensor,
    old_topk_ids: Tensor,
    cur_topk_logp: Tensor,
    token_ids: Tensor,
    old_logp: Tensor,
    cur_logp: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The two coarse-grained distributions compared by the top-K divergences.

    old_topk_logp / old_topk_ids / cur_topk_logp: (B, T, K), the rollout policy's top-K and the current policy's
    log-probs at those ids. token_ids, old_logp, cur_logp: (B, T), the sampled token and its two log-probs.

    Where the sampled token is not among old_topk_ids it replaces the last entry (index K−1, the lowest when the ids
    come sorted as torch.topk returns them), with m = exp(old_logp) and q = exp(cur_logp): the trainer's tensors stay
    K wide and the sampled token, the one the gradient acts on, is always compared individually.
    The remaining mass goes to a 'rest' bucket: m_rest = max(1 − Σ_k m_k, 0), q_rest likewise.
    Returns (m (B,T,K), q (B,T,K), m_rest (B,T), q_rest (B,T)), in at least fp32.
    """
    m = torch.exp(_float(old_topk_logp))
    q = torch.exp(_float(cur_topk_logp))
    absent = ~(old_topk_ids == token_ids.unsqueeze(-1)).any(dim=-1)
    last = torch.zeros_like(m, dtype=torch.bool)
    last[..., -1] = True
    replace = last & absent.unsqueeze(-1)
    m = torch.where(replace, torch.exp(_float(old_logp)).unsqueeze(-1).to(m.dtype), m)
    q = torch.where(replace, torch.exp(_float(cur_logp)).unsqueeze(-1).to(q.dtype), q)
    m_rest = (1.0 - m.sum(dim=-1)).clamp(min=0.0)
    q_rest = (1.0 - q.sum(dim=-1)).clamp(min=0.0)
    return m, q, m_rest, q_rest


def topk_tv(m: Tensor, q: Tensor, m_rest: Tensor, q_rest: Tensor) -> Tensor:
    """TV = ½(Σ_k |m_k − q_k| + |m_rest − q_rest|), clamped to [0, 1] (rounding of the sums aside, it is already)."""
    tv = 0.5 * ((m - q).abs().sum(dim=-1) + (m_rest - q_rest).abs())
    return tv.clamp(0.0, 1.0)


def topk_kl(m: Tensor, q: Tensor, m_rest: Tensor, q_rest: Tensor) -> Tensor:
    """KL(m ‖ q) = Σ_k m_k log(m_k/q_k) + m_rest log(m_rest/q_rest), 0·log 0 = 0, clamped at 0."""
    kl = _plogp_ratio(m, q).sum(dim=-1) + _plogp_ratio(m_rest, q_rest)
    return kl.clamp(min=0.0)
