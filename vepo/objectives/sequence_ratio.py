"""Group importance ratios in GSPO's token form (shared by gspo and espo).

A "group" is a set of tokens of one sequence: the whole completion for GSPO, one entropy group for ESPO. Its ratio is
the geometric mean of the token ratios, s = exp(mean_{t∈group}(logp − old)), and the token form

    s_t = sg(s) · exp(logp_t − sg(logp_t))

has the value s at every token and the gradient s·∇logp_t. Aggregated with a token mean inside the group this gives
exactly ∇s = s · mean_t ∇logp_t, the gradient of the sequence-level ratio (GSPO §4, "GSPO-token"), while leaving room
for per-token advantages.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vepo.objectives.clipping import log_ratio_to_ratio
from vepo.objectives.masked import masked_mean


def group_log_ratio(logp: Tensor, old: Tensor, mask_of_group: Tensor) -> Tensor:
    """mean_{t∈group}(logp − old) over the last dim, kept as a size-1 dim; 0 for an empty group (never NaN).

    Shapes broadcast: logp/old (..., T) against mask_of_group (..., T); e.g. (B, 1, T) against (B, K, T) gives K groups
    per sequence in one call. Masked positions are selected away, so junk there cannot leak in.
    """
    return masked_mean(logp - old, mask_of_group, dim=-1, keepdim=True)


def group_ratio(logp: Tensor, old: Tensor, mask_of_group: Tensor) -> Tensor:
    """The detached group ratio sg(s) = exp(mean_{t∈group}(logp − old)), shape (..., 1); 1 for an empty group.

    Goes through `log_ratio_to_ratio` (the shared ±20 log-ratio clamp: identical to a plain exp for every realistic
    group, finite for runaway ones).
    """
    return log_ratio_to_ratio(group_log_ratio(logp.detach(), old.detach(), mask_of_group))


def token_form(logp: Tensor, ratio: Tensor) -> Tensor:
    """ratio·exp(logp − sg(logp)): the value of the (detached) `ratio`, the gradient ratio·∇logp at every token."""
    return ratio.detach() * torch.exp(logp - logp.detach())


def group_ratio_token_form(logp: Tensor, old: Tensor, mask_of_group: Tensor) -> Tensor:
    """Token-form group ratio sg(s)·exp(logp − sg(logp)), broadcast to the shape of logp ⊗ mask_of_group.

    logp carries the gradient; old is treated as detached. Values at positions outside the group are that group's
    ratio too; callers mask them out. ESPO, whose tokens each belong to one of K groups, composes the same two steps
    (`group_ratio` for all K groups at once, then `token_form` with each token's own group ratio).
    """
    return token_form(logp, group_ratio(logp, old, mask_of_group))
