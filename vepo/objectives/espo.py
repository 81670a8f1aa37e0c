"""ESPO: entropy importance sampling policy optimisation (arXiv 2512.00499; ALGORITHMS.md "ESPO").

Per sequence the valid tokens are split into K entropy groups by entropy rank; each group τ gets a GSPO-style group
ratio in token form and an entropy-adaptive clip range:

    s_{i,τ}   = exp(mean_{t∈τ}(logp − old)),  token form sg(s_{i,τ})·exp(logp_t − sg(logp_t))
    ε_{i,τ}   = α · mean_{t∈τ} H_t / log|V|         (α_low / α_high when set, else α on both sides)
    ℓ_{i,t}   = −min(s Â, clip(s, 1−ε_low,τ, 1+ε_high,τ) Â) (+ β·k3_t when β > 0)
    loss      = mean_i [ mean over the non-empty groups τ of sequence i of ( mean_{t∈τ} ℓ_{i,t} ) ]

Group split (vepo's resolution of details the spec leaves open):
- Tokens are ranked by H_t, highest first; ties go to the earlier position (stable sort), so the split is deterministic.
- Group 0 (high entropy) holds the top n_top = max(1, round(q·n)) valid tokens of a sequence with n ≥ 2 valid tokens,
  where round is half-up (floor(q·n + 0.5)); a sequence with n < 2 valid tokens puts its token (if any) in the "rest".
  With q·n rounding up to n the rest group is empty; an empty group is skipped, never divided by.
- K > 2: the rest is cut into K−1 consecutive rank bins of near-equal size (group 1 = next-highest entropy). K=2 is
  the paper's setting and the default.
- Masks are read as binary (nonzero = valid).
All-masked rows contribute 0 and still count in the mean over sequences (as seq_mean_token_mean / TRL).

Metrics: loss, clip_frac (+ _low/_high, over all valid tokens), ratio_mean, entropy_mean and per group k:
clip_frac/g{k}, eps/g{k} (mean α·H̄_τ/log|V| over non-empty (sequence, group) pairs; eps_low/g{k} and eps_high/g{k}
too when α_low or α_high is set), token_share/g{k} (share of valid tokens in group k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vepo.objectives.aggregation import aggregate
from vepo.objectives.base import Objective
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch, check_batch, token_advantages
from vepo.objectives.clipping import clip_fractions, clipped_surrogate, k3_kl
from vepo.objectives.masked import masked_mean
from vepo.objectives.registry import register_objective
from vepo.objectives.sequence_ratio import group_ratio_token_form


def entropy_groups(entropy: torch.Tensor, valid: torch.Tensor, top_quantile: float, num_groups: int) -> torch.Tensor:
    """(B, T) long group index per token (0 = highest entropy); values at invalid positions are meaningless.

    See the module docstring for the rule. Fully vectorised: one stable sort per call, no loop over sequences.
    """
    B, T = entropy.shape
    key = torch.where(valid, -entropy, torch.inf)  # invalid positions sort last
    order = torch.sort(key, dim=-1, stable=True).indices
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(T, device=order.device).expand(B, T))
    n = valid.sum(-1, keepdim=True)
    n_top = torch.floor(n.double() * top_quantile + 0.5).long().clamp(min=1)
    n_top = torch.where(n >= 2, torch.minimum(n_top, n), torch.zeros_like(n))
    rest = (rank - n_top).clamp(min=0)
    n_rest = (n - n_top).clamp(min=1)
    group = torch.where(rank < n_top, torch.zeros_like(rank), 1 + rest * (num_groups - 1) // n_rest)
    return group.clamp(max=num_groups - 1)


@register_objective("espo")
@dataclass
class ESPO(Objective):
    top_quantile: float = 0.2  # q: share of a sequence's valid tokens in the high-entropy group 0
    num_groups: int = 2  # K
    alpha: float = 0.02
    alpha_low: float | None = None  # None → alpha
    alpha_high: float | None = None  # None → alpha
    vocab_size: int = 151936  # |V| for the log|V| entropy normaliser (Qwen2.5/Qwen3 default)
    beta: float = 0.0
    advantage: str = "group"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.top_quantile < 1.0:
            raise ValueError(f"top_quantile must be in (0, 1), got {self.top_quantile!r}")
        if isinstance(self.num_groups, bool) or not isinstance(self.num_groups, int) or self.num_groups < 2:
            raise ValueError(f"num_groups must be an int >= 2, got {self.num_groups!r}")
        for name in ("alpha", "alpha_low", "alpha_high"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {v!r}")
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2, got {self.vocab_size!r}")
        if self.beta < 0.0:
            raise ValueError(f"beta must be >= 0, got {self.beta!r}")

    @property
    def _alphas(self) -> tuple[float, float]:
        lo = self.alpha if self.alpha_low is None else self.alpha_low
        hi = self.alpha if self.alpha_high is None else self.alpha_high
        return lo, hi

    def __call__(self, batch: PolicyBatch) -> ObjectiveOutput:
        check_batch(batch)
        if batch.entropy is None:
            raise ValueError(f"objective {self.name!r} needs per-token entropies (PolicyBatch.entropy is None)")
        dtype = torch.promote_types(batch.logp.dtype, torch.float32)
        logp = batch.logp.to(dtype)
        old = logp.detach() if batch.old_logp is None else batch.old_logp.detach().to(dtype)
        adv = token_advantages(batch.advantages.detach().to(dtype), logp)
        entropy = batch.entropy.detach().to(dtype)
        valid = batch.mask != 0
        K = self.num_groups

        group = entropy_groups(entropy, valid, self.top_quantile, K)  # (B, T)
        ks = torch.arange(K, device=group.device).view(1, K, 1)
        gmask = (group.unsqueeze(1) == ks) & valid.unsqueeze(1)  # (B, K, T)
        counts = gmask.sum(-1)  # (B, K)
        idx = group.unsqueeze(1)

        # Group ratios in token form for all K groups at once, then each token picks its own group's.
        ratio = group_ratio_token_form(logp.unsqueeze(1), old.unsqueeze(1), gmask).gather(1, idx).squeeze(1)
        norm_h = masked_mean(entropy.unsqueeze(1), gmask, dim=-1) / math.log(self.vocab_size)  # (B, K)
        a_lo, a_hi = self._alphas
        eps_lo = (a_lo * norm_h).gather(1, group)  # (B, T)
        eps_hi = eps_lo if a_hi == a_lo else (a_hi * norm_h).gather(1, group)
        per_token = clipped_surrogate(ratio, adv, eps_lo, eps_hi)
        kl = None
        if self.beta > 0.0:
            if batch.ref_logp is None:
                raise ValueError(f"objective {self.name!r} has beta={self.beta} > 0 but the batch has no ref_logp")
            kl = k3_kl(logp, batch.ref_logp.detach().to(dtype))
            per_token = per_token + self.beta * kl

        # mean over non-empty groups of the in-group token mean == token mean of ℓ · n_i / (|τ(t)| · G_i)
        n = counts.sum(-1, keepdim=True)  # (B, 1)
        n_groups = (counts > 0).sum(-1, keepdim=True).clamp(min=1)
        weight = n.to(dtype) / (counts.gather(1, group).clamp(min=1) * n_groups).to(dtype)
        loss = aggregate(per_token * weight, valid, "seq_mean_token_mean")

        with torch.no_grad():
            metrics = {"loss": loss.item()}
            metrics.update(clip_fractions(ratio, adv, valid, eps_lo, eps_hi))
            nonempty = counts > 0
            total = counts.sum().clamp(min=1)
            eps_base = self.alpha * norm_h
            stats = [masked_mean(ratio, valid), masked_mean(entropy, valid)]
            stats += [masked_mean(eps_base, nonempty, dim=0), counts.sum(0) / total]
            asym = self.alpha_low is not None or self.alpha_high is not None
            if asym:
                stats += [masked_mean(a_lo * norm_h, nonempty, dim=0), masked_mean(a_hi * norm_h, nonempty, dim=0)]
            values = torch.cat([s.reshape(-1).to(dtype) for s in stats]).tolist()
            metrics["ratio_mean"], metrics["entropy_mean"] = values[0], values[1]
            names = ["eps", "token_share"] + (["eps_low", "eps_high"] if asym else [])
            for j, name in enumerate(names):
                for k in range(K):
                    metrics[f"{name}/g{k}"] = values[2 + j * K + k]
            for k in range(K):
                metrics[f"clip_frac/g{k}"] = clip_fractions(ratio, adv, gmask[:, k], eps_lo, eps_hi)["clip_frac"]
            if kl is not None:
                metrics["kl"] = masked_mean(kl, valid).item()
        return ObjectiveOutput(loss=loss, metrics=metrics)
