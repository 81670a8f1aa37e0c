"""GSPO: group sequence policy optimisation (sequence-level importance ratio; docs/design/algorithms.md "Baselines").

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

from vepo.objectives.grpo import GRPO
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

    def importance_ratio(self, logp: torch.Tensor, old: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # (B, T): value s_i on every token of row i, gradient s_i·∇logp_t; the loss and metrics are GRPO's.
        return group_ratio_token_form(logp, old, mask)
