"""DPPO: a divergence trust region instead of ratio clipping (arXiv 2602.04879; docs/design/algorithms.md "DPPO").

The anchor is the rollout policy (old). With p = exp(logp), m = exp(old) and D_t a divergence between the two,
a token's gradient is dropped (valid_t = 0) when the update would move it further out of the trust region:

    Â > 0: invalid if D_t > δ_high and p > m          Â < 0: invalid if D_t > δ_low and p < m
    (Â = 0 tokens stay valid; they contribute 0 anyway)

    ρ_t = sg(min(exp(min(logp − old, 20)), C))        ℓ_t = −Â · ρ_t · valid_t · logp_t (+ β·k3_t)

aggregated with seq_mean_token_sum_norm over Dr. GRPO advantages. The mask is detached, so
∇ℓ_t = −Â ρ_t valid_t ∇logp_t.

Divergences (one registered name each): binary_tv D = |p − m| (δ = 0.15), binary_kl the Bernoulli KL (δ = 0.05),
topk_tv / topk_kl over the rollout top-K with the sampled token forced in and a rest bucket (see divergence.py). The
top-K variants need PolicyBatch.old_topk_logp / old_topk_ids / cur_topk_logp (K ≤ top_k wide; fewer only when the
vocabulary is smaller than top_k) and token_ids.

Subclasses change the thresholds through the `thresholds(batch)` hook (DPPO-AV makes them per token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from vepo.objectives.aggregation import aggregate, check_loss_params
from vepo.objectives.base import Objective
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch, TokenStats
from vepo.objectives.clipping import LOG_RATIO_CLAMP
from vepo.objectives.divergence import binary_kl, binary_tv, topk_distributions, topk_kl, topk_tv
from vepo.objectives.masked import masked_mean
from vepo.objectives.needs import Needs
from vepo.objectives.prepare import add_kl_penalty, apply_is_weight, prepare
from vepo.objectives.registry import register_objective

DIVERGENCES = ("binary_tv", "binary_kl", "topk_tv", "topk_kl")
DEFAULT_DELTA = {"binary_tv": 0.15, "binary_kl": 0.05, "topk_tv": 0.15, "topk_kl": 0.05}
TOPK_FIELDS = ("old_topk_logp", "old_topk_ids", "cur_topk_logp", "token_ids")


@register_objective("dppo_binary_tv")
@dataclass
class DPPO(Objective):
    delta_low: float = 0.15
    delta_high: float = 0.15
    ratio_cap: float = 10.0  # C: cap on the (detached) importance ratio ρ_t
    beta: float = 0.0  # k3 KL to the reference policy, as grpo; 0 skips the reference model
    aggregation: str = "seq_mean_token_sum_norm"
    max_completion_length: int | None = 128  # L_max of seq_mean_token_sum_norm; the trainer passes its own
    advantage: str = "dr_grpo"

    DIVERGENCE: ClassVar[str] = "binary_tv"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._validate()

    def _validate(self) -> None:
        if self.divergence_kind not in DIVERGENCES:
            raise ValueError(f"unknown divergence {self.divergence_kind!r}; allowed: {', '.join(DIVERGENCES)}")
        for key in ("delta_low", "delta_high"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not value > 0.0:
                raise ValueError(f"{key} must be > 0, got {value!r}")
        if not self.ratio_cap > 0.0:
            raise ValueError(f"ratio_cap must be > 0, got {self.ratio_cap!r}")
        check_loss_params(self.beta, self.aggregation, self.max_completion_length)
        if hasattr(self, "top_k") or self.divergence_kind.startswith("topk"):
            top_k = getattr(self, "top_k", None)
            if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
                raise ValueError(f"top_k must be a positive int, got {top_k!r}")

    # ------------------------------------------------------------ hooks
    @property
    def divergence_kind(self) -> str:
        """Which divergence D_t is (a class constant here; DPPO-AV makes it a parameter)."""
        return self.DIVERGENCE

    def needs(self) -> Needs:
        topk = int(self.top_k) if self.divergence_kind.startswith("topk") else None  # type: ignore[attr-defined]
        return Needs(advantage=self.advantage, ref_logp=self.beta > 0.0, rollout_topk=topk)

    def thresholds(self, batch: PolicyBatch) -> tuple[Tensor | float, Tensor | float]:
        """(δ_low, δ_high): scalars here; subclasses may return (B, T) tensors (per-token thresholds)."""
        return self.delta_low, self.delta_high

    def extra_metrics(self, batch: PolicyBatch, invalid: Tensor, tokens: Tensor, delta_low, delta_high) -> dict:
        """Subclass hook for more metrics; invalid / tokens: (B, T) bools (trust-region masked / completion token)."""
        return {}

    # ------------------------------------------------------------ divergence
    def compute_divergence(self, batch: PolicyBatch, logp: Tensor, old: Tensor) -> Tensor:
        """D_t (B, T), detached, in at least fp32. logp / old: the sampled token's log-probs (detached).

        An on-policy batch (no behaviour log-probs) has D ≡ 0: nothing is computed and no top-K is needed."""
        if batch.old_logp is None:
            return torch.zeros_like(logp)
        kind = self.divergence_kind
        if kind == "binary_tv":
            return binary_tv(torch.exp(logp), torch.exp(old))
        if kind == "binary_kl":
            return binary_kl(torch.exp(logp), torch.exp(old))
        missing = [f for f in TOPK_FIELDS if getattr(batch, f) is None]
        if missing:
            raise ValueError(
                f"objective {self.name!r} (divergence {kind!r}) needs PolicyBatch fields {', '.join(TOPK_FIELDS)}; "
                f"missing: {', '.join(missing)}"
            )
        shape = tuple(logp.shape)
        k_shapes = {f: tuple(getattr(batch, f).shape) for f in TOPK_FIELDS[:3]}
        K = k_shapes["old_topk_logp"][-1] if len(k_shapes["old_topk_logp"]) == 3 else None
        if K is None or any(s != (*shape, K) for s in k_shapes.values()):
            raise ValueError(f"top-K tensors must all be (B, T, K) with (B, T) = {shape}; got {k_shapes}")
        if not 1 <= K <= self.top_k:  # type: ignore[attr-defined]
            raise ValueError(f"top-K tensors are {K} wide but the objective's top_k is {self.top_k}")  # type: ignore
        m, q, m_rest, q_rest = topk_distributions(
            batch.old_topk_logp.detach(), batch.old_topk_ids, batch.cur_topk_logp.detach(), batch.token_ids, old, logp
        )
        return topk_tv(m, q, m_rest, q_rest) if kind == "topk_tv" else topk_kl(m, q, m_rest, q_rest)

    # ------------------------------------------------------------ loss
    def __call__(self, batch: PolicyBatch) -> ObjectiveOutput:
        # No behaviour log-probs = on-policy: old == logp, ρ = 1, D = 0, nothing masked.
        p = prepare(batch, self.name)
        dtype, logp, old, mask = p.dtype, p.logp, p.old, p.mask
        adv = p.adv.expand_as(logp)
        tokens = mask != 0

        with torch.no_grad():
            lp = logp.detach()
            div = self.compute_divergence(batch, lp, old)
            delta_low, delta_high = self.thresholds(batch)
            # p > m ⟺ logp > old (exp is monotone); comparing logs avoids exp underflow ties.
            invalid = ((adv > 0) & (lp > old) & (div > delta_high)) | ((adv < 0) & (lp < old) & (div > delta_low))
            invalid = invalid & tokens
            keep = tokens & ~invalid
            # ρ: only the upper log-ratio clamp of the spec (exp(−∞) = 0 is finite); the cap C bounds it anyway.
            rho = torch.exp((lp - old).clamp(max=LOG_RATIO_CLAMP)).clamp(max=self.ratio_cap)
            # Zero outside kept tokens with where (not ×0), so junk at padding can never reach the gradient.
            coef = torch.where(keep, adv * rho, torch.zeros_like(rho))
        per_token = apply_is_weight(-coef * logp, batch, dtype)
        per_token, kl = add_kl_penalty(per_token, p, batch, self.beta, self.name)
        loss = aggregate(per_token, mask, self.aggregation, self.max_completion_length)

        with torch.no_grad():
            inv = invalid.to(dtype)
            metrics = {
                "loss": loss.item(),
                "masked_frac": masked_mean(inv, tokens).item(),
                "masked_frac_pos": masked_mean(inv, tokens & (adv > 0)).item(),  # 0 when no Â > 0 token
                "masked_frac_neg": masked_mean(inv, tokens & (adv < 0)).item(),
                "div_mean": masked_mean(div, tokens).item(),  # over all completion tokens, masked or not
                "ratio_mean": masked_mean(rho, tokens).item(),
            }
            if kl is not None:
                metrics["kl"] = masked_mean(kl, tokens).item()
            if batch.entropy is not None:
                metrics["entropy_mean"] = masked_mean(batch.entropy.to(dtype), tokens).item()
            metrics.update(self.extra_metrics(batch, invalid, tokens, delta_low, delta_high))
            stats = TokenStats(clipped=invalid, grad_weight=torch.where(keep, adv.abs(), torch.zeros_like(adv)))
        return ObjectiveOutput(loss=loss, metrics=metrics, token_stats=stats)


@register_objective("dppo_binary_kl")
@dataclass
class DPPOBinaryKL(DPPO):
    delta_low: float = 0.05
    delta_high: float = 0.05

    DIVERGENCE: ClassVar[str] = "binary_kl"


@register_objective("dppo_topk_tv")
@dataclass
class DPPOTopKTV(DPPO):
    top_k: int = 20  # K of the rollout top-K the trainer stores (and recomputes under the current policy)

    DIVERGENCE: ClassVar[str] = "topk_tv"


@register_objective("dppo_topk_kl")
@dataclass
class DPPOTopKKL(DPPOTopKTV):
    delta_low: float = 0.05
    delta_high: float = 0.05

    DIVERGENCE: ClassVar[str] = "topk_kl"
