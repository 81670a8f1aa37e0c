"""ESPO: entropy importance sampling policy optimisation (arXiv 2512.00499; docs/design/algorithms.md "ESPO").

Per sequence the valid tokens are split into K entropy groups by entropy rank; each group τ gets a GSPO-style group
ratio in token form and an entropy-adaptive clip range:

    s_{i,τ}   = exp(mean_{t∈τ}(logp − old)),  token form sg(s_{i,τ})·exp(logp_t − sg(logp_t))
    ε_{i,τ}   = α · mean_{t∈τ} H_t / log|V|         (α_low / α_high when set, else α on both sides)
    ℓ_{i,t}   = −min(s Â, clip(s, 1−ε_low,τ, 1+ε_high,τ) Â) (+ β·k3_t when β > 0)
    loss      = mean_i [ mean over the non-empty groups τ of sequence i of ( mean_{t∈τ} ℓ_{i,t} ) ]

Group split (vepo's resolution of details the spec leaves open):
- Tokens are ranked by H_t, highest first; ties go to the earlier position, so the split is deterministic.
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
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch
from vepo.objectives.clipping import clip_fractions, clipped_surrogate
from vepo.objectives.masked import masked_mean
from vepo.objectives.grpo import clipped_token_stats
from vepo.objectives.needs import Needs
from vepo.objectives.prepare import add_kl_penalty, apply_is_weight, prepare
from vepo.objectives.registry import register_objective
from vepo.objectives.sequence_ratio import group_ratio, token_form


def entropy_groups(entropy: torch.Tensor, valid: torch.Tensor, top_quantile: float, num_groups: int) -> torch.Tensor:
    """(B, T) long group index per token (0 = highest entropy); values at invalid positions are meaningless.

    See the module docstring for the rule. Fully vectorised, no loop over sequences: K=2 needs only each row's
    n_top-th largest entropy (one top-k over the largest n_top of the batch, ties resolved by a running count in
    position order); K > 2 ranks every token with one stable sort.
    """
    B, T = entropy.shape
    n = valid.sum(-1, keepdim=True)
    n_top = torch.floor(n.double() * top_quantile + 0.5).long().clamp(min=1) * (n >= 2)  # ≤ n since q < 1
    if num_groups == 2:
        k_max = int(n_top.max()) if n_top.numel() else 0
        if k_max == 0:
            return torch.ones_like(entropy, dtype=torch.long)
        key = torch.where(valid, entropy, -torch.inf)
        thr = key.topk(k_max, dim=-1).values.gather(1, (n_top - 1).clamp(min=0))  # n_top-th largest per row
        above = key > thr
        tie = key == thr  # only the first (n_top − #above) tied tokens by position join the top group
        top = above | (tie & (tie.cumsum(-1) <= n_top - above.sum(-1, keepdim=True)))
        return (~(top & (n_top > 0))).long()
    key = torch.where(valid, -entropy, torch.inf)  # invalid positions sort last
    order = torch.sort(key, dim=-1, stable=True).indices
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(T, device=order.device).expand(B, T))
    rest = (rank - n_top).clamp(min=0)
    n_rest = (n - n_top).clamp(min=1)
    group = torch.where(rank < n_top, torch.zeros_like(rank), 1 + rest * (num_groups - 1) // n_rest)
    return group.clamp(max=num_groups - 1)


def _pick(per_group: torch.Tensor, in_group: list[torch.Tensor]) -> torch.Tensor:
    """(B, K) per-group values → (B, T): each token takes its group's value (in_group[k] = (group == k), (B, T)).

    A chain of K−1 elementwise selects; cheaper than gather (whose backward is a scatter) for the small K used here.
    """
    K = per_group.shape[1]
    out = per_group[:, K - 1 :].expand(in_group[0].shape)
    for k in range(K - 2, -1, -1):
        out = torch.where(in_group[k], per_group[:, k : k + 1], out)
    return out


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

    def needs(self) -> Needs:
        return Needs(advantage=self.advantage, ref_logp=self.beta > 0.0, entropy=True)

    @property
    def _alphas(self) -> tuple[float, float]:
        lo = self.alpha if self.alpha_low is None else self.alpha_low
        hi = self.alpha if self.alpha_high is None else self.alpha_high
        return lo, hi

    def __call__(self, batch: PolicyBatch) -> ObjectiveOutput:
        p = prepare(batch, self.name, needs_entropy=True)
        dtype, logp, old, adv, entropy = p.dtype, p.logp, p.old, p.adv, p.entropy
        valid = batch.mask != 0
        K = self.num_groups

        group = entropy_groups(entropy, valid, self.top_quantile, K)  # (B, T)
        in_group = [group == k for k in range(K)]
        gmask = torch.stack(in_group, 1) & valid.unsqueeze(1)  # (B, K, T)
        counts = gmask.sum(-1)  # (B, K) tokens per group

        # Everything per (sequence, group) is a (B, K) tensor; tokens then pick their own group's value.
        s_group = group_ratio(logp.unsqueeze(1), old.unsqueeze(1), gmask).squeeze(-1)  # sg(s_{i,τ})
        h_group = masked_mean(entropy.unsqueeze(1), gmask, dim=-1)  # mean H per group
        a_lo, a_hi = self._alphas
        norm_h = h_group / math.log(self.vocab_size)
        eps_lo_g, eps_hi_g = a_lo * norm_h, a_hi * norm_h
        # mean over non-empty groups of the in-group token mean == token mean of ℓ · n_i / (|τ(t)| · G_i)
        n = counts.sum(-1, keepdim=True)
        n_groups = (counts > 0).sum(-1, keepdim=True).clamp(min=1)
        weight_g = n.to(dtype) / (counts.clamp(min=1) * n_groups).to(dtype)

        ratio = token_form(logp, _pick(s_group, in_group))
        eps_lo = _pick(eps_lo_g, in_group)
        eps_hi = eps_lo if a_hi == a_lo else _pick(eps_hi_g, in_group)
        per_token = apply_is_weight(clipped_surrogate(ratio, adv, eps_lo, eps_hi), batch, dtype)
        per_token, kl = add_kl_penalty(per_token, p, batch, self.beta, self.name)
        loss = aggregate(per_token * _pick(weight_g, in_group), valid, "seq_mean_token_mean")

        with torch.no_grad():
            metrics = {"loss": loss.item()}
            # With one advantage per sequence the ratio, ε and Â are constant inside a (sequence, group) pair, so the
            # token-level statistics are (B, K) ones weighted by the group sizes: same numbers, far fewer ops.
            if adv.shape[1] == 1:
                per_group = [
                    clip_fractions(s_group[:, k : k + 1], adv, counts[:, k : k + 1], eps_lo_g[:, k : k + 1],
                                   eps_hi_g[:, k : k + 1])
                    for k in range(K)
                ]
                means = [masked_mean(s_group, counts), masked_mean(h_group, counts)]
            else:
                per_group = [clip_fractions(ratio, adv, gmask[:, k], eps_lo, eps_hi) for k in range(K)]
                means = [masked_mean(ratio, valid), masked_mean(entropy, valid)]
            nonempty = counts > 0
            asym = self.alpha_low is not None or self.alpha_high is not None
            stats = means + [counts.sum(0), masked_mean(self.alpha * norm_h, nonempty, dim=0)]
            if asym:
                stats += [masked_mean(eps_lo_g, nonempty, dim=0), masked_mean(eps_hi_g, nonempty, dim=0)]
            values = torch.cat([v.reshape(-1).to(dtype) for v in stats]).tolist()
            metrics["ratio_mean"], metrics["entropy_mean"] = values[0], values[1]
            tokens = values[2 : 2 + K]
            total = max(sum(tokens), 1.0)
            # groups partition the valid tokens: overall fractions are the share-weighted group fractions
            for key in ("clip_frac", "clip_frac_low", "clip_frac_high"):
                metrics[key] = sum(f[key] * c for f, c in zip(per_group, tokens)) / total
            names = ["eps"] + (["eps_low", "eps_high"] if asym else [])
            for j, name in enumerate(names):
                for k in range(K):
                    metrics[f"{name}/g{k}"] = values[2 + K + j * K + k]
            for k in range(K):
                metrics[f"token_share/g{k}"] = tokens[k] / total
                metrics[f"clip_frac/g{k}"] = per_group[k]["clip_frac"]
            if kl is not None:
                metrics["kl"] = masked_mean(kl, valid).item()
            stats = clipped_token_stats(ratio, adv, None, eps_lo, eps_hi)
        return ObjectiveOutput(loss=loss, metrics=metrics, token_stats=stats)
