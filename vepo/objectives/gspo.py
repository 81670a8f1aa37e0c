"""GSPO: group sequence policy optimisation (sequence-level importance ratio; ALGORITHMS.md "Baselines").

s_i = exp(mean_t (logp − old)) over the valid tokens of sequence i, used in the GSPO-token form
s_{i,t} = sg(s_i)·exp(logp_t − sg(logp_t)) (value s_i, gradient s_i·∇logp_t):

    ℓ_{i,t} = −min(s_{i,t} Â, clip(s_{i,t}, 1−ε_low, 1+ε_high) Â) + β·k3_t,  aggregated seq_mean_token_mean.

Defaults ε_low=3e-4, ε_high=4e-4, β=0. With sequence advantages this equals TRL 1.16's
`importance_sampling_level="sequence"` + `loss_type="grpo"` in value and gradient (tests/test_objectives_seq_entropy.py):
TRL's (B, 1) sequence loss averaged over a row's tokens is the same number, and the token form's gradient averaged over
the row is ∇s_i. The token form also accepts (B, T) per-token advantages.

Clip metrics are token-weighted (share of valid tokens, as for every vepo objective); since a sequence is clipped as a
whole they equal the share of tokens that belong to clipped sequences.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vepo.objectives.aggregation import aggregate
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch, check_batch, token_advantages
from vepo.objectives.clipping import clip_fractions, clipped_surrogate, k3_kl
from vepo.objectives.grpo import GRPO
from vepo.objectives.masked import masked_mean
from vepo.objectives.registry import register_objective
from vepo.objectives.sequence_ratio import group_ratio_token_form


@register_objective("gspo")
@dataclass
class GSPO(GRPO):
    epsilon_low: float = 3e-4
    epsilon_high: float = 4e-4
    beta: float = 0.0
    aggregation: str = "seq_mean_token_mean"
    advantage: str = "group"

    def __call__(self, batch: PolicyBatch) -> ObjectiveOutput:
        check_batch(batch)
        dtype = torch.promote_types(batch.logp.dtype, torch.float32)
        logp = batch.logp.to(dtype)
        old = logp.detach() if batch.old_logp is None else batch.old_logp.detach().to(dtype)
        adv = token_advantages(batch.advantages.detach().to(dtype), logp)
        mask = batch.mask

        ratio = group_ratio_token_form(logp, old, mask)  # (B, T), value s_i on every token of row i
        per_token = clipped_surrogate(ratio, adv, self.epsilon_low, self.epsilon_high)
        kl = None
        if self.beta > 0.0:
            if batch.ref_logp is None:
                raise ValueError(f"objective {self.name!r} has beta={self.beta} > 0 but the batch has no ref_logp")
            kl = k3_kl(logp, batch.ref_logp.detach().to(dtype))
            per_token = per_token + self.beta * kl
        loss = aggregate(per_token, mask, self.aggregation, self.max_completion_length)

        with torch.no_grad():
            metrics = {"loss": loss.item()}
            metrics.update(clip_fractions(ratio, adv, mask, self.epsilon_low, self.epsilon_high))
            metrics["ratio_mean"] = masked_mean(ratio, mask).item()
            if kl is not None:
                metrics["kl"] = masked_mean(kl, mask).item()
            if batch.entropy is not None:
                metrics["entropy_mean"] = masked_mean(batch.entropy.to(dtype), mask).item()
        return ObjectiveOutput(loss=loss, metrics=metrics)
