"""DPPO-AV: DPPO with adaptive, vocabulary-aware trust-region thresholds.

This is vepo's own formulation of an idea note (docs/design/algorithms.md "DPPO-AV"), not a published algorithm: the mask and the
loss are exactly DPPO's (dppo.py), with the scalar thresholds δ_low / δ_high replaced by per-token δ_low,t / δ_high,t.

Rarity r_v ∈ [0, 1] of the sampled token y_t comes from a token-frequency table over the training targets (rarity.py:
0 = most frequent seen id, → 1 for the rarest, exactly 1 for ids never seen). Modes:

    frequency (default)  δ_high,t = clamp(δ_high·(1 + κ·r_{y_t}), δ_high, δ_max)            δ_low,t = δ_low
    entropy              δ_·,t    = clamp(δ_··(H_t / H̄)^γ, 0.5·δ_·, 2·δ_·)                  (both sides)
    combined             δ_high,t = clamp(δ_high·(1 + κ·r_{y_t})·(H_t / H̄)^γ, 0.5·δ_high, δ_max)
                         δ_low,t  = clamp(δ_low·(H_t / H̄)^γ, 0.5·δ_low, 2·δ_low)

κ = 1, δ_max = 2·δ_high, γ = 0.5; H̄ = mean entropy over the completion tokens of the micro-batch (factor 1 when
H̄ = 0). Reading of "combined: product of both factors, same clamp": the frequency factor only ever widened δ_high,
so it multiplies δ_high alone, and the product is clamped to [0.5·δ_high, δ_max] (entropy's lower bound, frequency's
upper bound); δ_low gets the entropy factor and the entropy clamp. In entropy mode the upper bound is 2·δ as the spec
writes it (δ_max is not used). Rare tokens thus get a wider trust region for increases of their probability (Â > 0),
where DPPO would otherwise mask the large relative moves a rare token's probability makes.

The rarity table is not a hyperparameter: the trainer builds it from the training corpus (rarity.token_counts, cached
with save_rarity_table) and hands it over with set_token_rarity before the first step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import Tensor

from vepo.objectives.batch import PolicyBatch
from vepo.objectives.dppo import DEFAULT_DELTA, DIVERGENCES, DPPO
from vepo.objectives.masked import masked_mean
from vepo.objectives.needs import Needs
from vepo.objectives.rarity import BUCKET_NAMES, NEW, lookup_ids, rarity_bucket
from vepo.objectives.registry import register_objective

MODES = ("frequency", "entropy", "combined")


@register_objective("dppo_av")
@dataclass
class DPPOAV(DPPO):
    delta_low: float | None = None  # None → the divergence's DPPO default (0.15 TV, 0.05 KL)
    delta_high: float | None = None
    divergence: str = "binary_tv"  # binary_tv | binary_kl | topk_tv | topk_kl
    mode: str = "frequency"  # frequency | entropy | combined
    kappa: float = 1.0  # κ: rarity gain on δ_high
    delta_max: float | None = None  # upper clamp of δ_high,t (frequency / combined); None → 2·δ_high
    gamma: float = 0.5  # γ: entropy exponent
    rare_threshold: float = 0.8  # r ≥ this (and seen) = 'rare' bucket in the metrics
    top_k: int = 20  # only read by the top-K divergences

    _rarity: Tensor | None = field(default=None, init=False, repr=False, compare=False)
    _buckets: Tensor | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"unknown divergence {self.divergence!r}; allowed: {', '.join(DIVERGENCES)}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; allowed: {', '.join(MODES)}")
        if self.delta_low is None:
            self.delta_low = DEFAULT_DELTA[self.divergence]
        if self.delta_high is None:
            self.delta_high = DEFAULT_DELTA[self.divergence]
        super().__post_init__()  # validates the deltas and the shared DPPO parameters
        if self.delta_max is None:
            self.delta_max = 2.0 * self.delta_high
        if not self.delta_max >= self.delta_high:
            raise ValueError(f"delta_max must be >= delta_high ({self.delta_high}), got {self.delta_max!r}")
        if not self.kappa >= 0.0:
            raise ValueError(f"kappa must be >= 0, got {self.kappa!r}")
        if not self.gamma >= 0.0:
            raise ValueError(f"gamma must be >= 0, got {self.gamma!r}")
        if not 0.0 < self.rare_threshold <= 1.0:
            raise ValueError(f"rare_threshold must be in (0, 1], got {self.rare_threshold!r}")

    @property
    def divergence_kind(self) -> str:
        return self.divergence

    def needs(self) -> Needs:
        # frequency / combined thresholds read the rarity table, entropy / combined ones the entropy
        return dataclasses.replace(super().needs(), token_rarity=self.mode in ("frequency", "combined"),
                                   entropy=self.mode in ("entropy", "combined"))

    # ------------------------------------------------------------ rarity table
    def set_token_rarity(self, rarity: Tensor, counts: Tensor | None = None) -> None:
        """Store the per-id rarity (V,) (rarity.rarity_from_counts) and optionally the counts it came from.

        With counts, the 'new' metric bucket is count == 0; without, r == 1 (the same thing for rarity_from_counts).
        Kept on CPU here and moved to the batch's device on first use.
        """
        rarity = torch.as_tensor(rarity).detach()
        if rarity.dim() != 1 or rarity.numel() == 0:
            raise ValueError(f"rarity must be a non-empty 1-D (V,) tensor, got shape {tuple(rarity.shape)}")
        rarity = rarity.float()
        if not torch.isfinite(rarity).all() or (rarity < 0).any() or (rarity > 1).any():
            raise ValueError("rarity values must be finite and in [0, 1]")
        if counts is not None:
            counts = torch.as_tensor(counts).detach()
            if tuple(counts.shape) != tuple(rarity.shape):
                raise ValueError(f"counts shape {tuple(counts.shape)} != rarity shape {tuple(rarity.shape)}")
        self._rarity = rarity
        self._buckets = rarity_bucket(rarity, counts, self.rare_threshold)

    def _table_on(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if self._rarity.device != device:
            self._rarity = self._rarity.to(device)
            self._buckets = self._buckets.to(device)
        return self._rarity, self._buckets

    def token_rarity(self, batch: PolicyBatch) -> Tensor:
        """r_{y_t} (B, T) float32 for the sampled tokens; ids beyond the table count as never seen (r = 1)."""
        if self._rarity is None:
            raise ValueError(
                f"objective 'dppo_av' (mode {self.mode!r}) has no token rarity table: call set_token_rarity; "
                "the trainer builds it from the training corpus"
            )
        if batch.token_ids is None:
            raise ValueError(f"objective 'dppo_av' (mode {self.mode!r}) needs PolicyBatch.token_ids")
        rarity, _ = self._table_on(batch.token_ids.device)
        return lookup_ids(rarity, batch.token_ids.long(), 1.0)

    # ------------------------------------------------------------ thresholds
    def thresholds(self, batch: PolicyBatch) -> tuple[Tensor, Tensor]:
        dtype = torch.promote_types(batch.logp.dtype, torch.float32)
        tokens = batch.mask != 0
        dl, dh = float(self.delta_low), float(self.delta_high)
        high = torch.full(batch.logp.shape, dh, dtype=dtype, device=batch.logp.device)
        low = torch.full_like(high, dl)
        if self.mode in ("frequency", "combined"):
            high = high * (1.0 + self.kappa * self.token_rarity(batch).to(dtype))
        if self.mode in ("entropy", "combined"):
            if batch.entropy is None:
                raise ValueError(f"objective 'dppo_av' (mode {self.mode!r}) needs PolicyBatch.entropy")
            H = batch.entropy.detach().to(dtype).clamp(min=0.0)
            H_mean = masked_mean(H, tokens)
            factor = torch.where(H_mean > 0, (H / H_mean.clamp(min=1e-12)) ** self.gamma, torch.ones_like(H))
            high, low = high * factor, low * factor
        if self.mode == "frequency":
            high = high.clamp(dh, float(self.delta_max))
        elif self.mode == "entropy":
            high, low = high.clamp(0.5 * dh, 2.0 * dh), low.clamp(0.5 * dl, 2.0 * dl)
        else:
            high, low = high.clamp(0.5 * dh, float(self.delta_max)), low.clamp(0.5 * dl, 2.0 * dl)
        # Padding positions keep the base thresholds (their entropy / ids may be junk; they are never masked anyway).
        high = torch.where(tokens, high, torch.full_like(high, dh))
        low = torch.where(tokens, low, torch.full_like(low, dl))
        return low, high

    # ------------------------------------------------------------ metrics
    def extra_metrics(self, batch: PolicyBatch, invalid: Tensor, tokens: Tensor, delta_low, delta_high) -> dict:
        metrics = {
            "delta_high_mean": masked_mean(delta_high, tokens).item(),
            "delta_low_mean": masked_mean(delta_low, tokens).item(),
        }
        if self._rarity is not None and batch.token_ids is not None:
            _, buckets = self._table_on(batch.token_ids.device)
            bucket = lookup_ids(buckets, batch.token_ids.long(), NEW)
            inv = invalid.float()
            for b, name in enumerate(BUCKET_NAMES):  # only buckets that have tokens: no 0/0 placeholders
                sel = tokens & (bucket == b)
                if sel.any():
                    metrics[f"masked_frac/{name}"] = masked_mean(inv, sel).item()
        return metrics
