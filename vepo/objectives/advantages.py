"""Group-relative advantage estimators (docs/design/algorithms.md "Advantages").

rewards is a flat (B,) tensor laid out group after group (G consecutive completions of one prompt), as TRL lays it out.
NaN rewards mean "unscorable" (TRL's convention): they are left out of the group statistics and get advantage 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

STD_EPS = 1e-4  # added to the group std (TRL's value)


def _grouped(rewards: Tensor, group_size: int) -> Tensor:
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D (B,), got shape {tuple(rewards.shape)}")
    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive int, got {group_size!r}")
    if rewards.numel() % group_size != 0:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    dtype = torch.promote_types(rewards.dtype, torch.float32)
    return rewards.to(dtype).view(-1, group_size)


def _stats(g: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-group (valid, mean, unbiased std, constant) ignoring NaNs, all with keepdim."""
    valid = ~torch.isnan(g)
    count = valid.sum(dim=1, keepdim=True).to(g.dtype)
    mean = torch.where(valid, g, 0.0).sum(dim=1, keepdim=True) / count.clamp(min=1.0)
    # Same operation order as trl.trainer.utils.nanstd: population variance, then Bessel factor count/(count-1).
    var = torch.where(valid, (g - mean) ** 2, 0.0).sum(dim=1, keepdim=True) / count.clamp(min=1.0)
    var = var * (count / (count - 1.0).clamp(min=1.0))
    std = var.sqrt()
    # "Zero variance" = every valid reward identical (exact test). Forcing 0 there avoids the rounding residue
    # (R - mean ≈ 1 ulp) being divided by 1e-4; groups with < 2 valid rewards count as constant too.
    hi = torch.where(valid, g, -torch.inf).amax(dim=1, keepdim=True)
    lo = torch.where(valid, g, torch.inf).amin(dim=1, keepdim=True)
    constant = (hi == lo) | (count < 2)
    return valid, mean, std, constant


def group_advantages(rewards: Tensor, group_size: int) -> Tensor:
    """GRPO: Â = (R − mean_g) / (std_g + 1e-4), std unbiased (Bessel) as TRL 1.16's nanstd; constant groups → 0."""
    g = _grouped(rewards, group_size)
    valid, mean, std, constant = _stats(g)
    adv = (g - mean) / (std + STD_EPS)
    adv = torch.where(valid & ~constant, adv, 0.0)
    return adv.reshape(-1)


def dr_grpo_advantages(rewards: Tensor, group_size: int) -> Tensor:
    """Dr. GRPO: Â = R − mean_g (no std division); constant groups and NaN rewards → 0."""
    g = _grouped(rewards, group_size)
    valid, mean, _, constant = _stats(g)
    return torch.where(valid & ~constant, g - mean, 0.0).reshape(-1)


def frac_zero_std_groups(rewards: Tensor, group_size: int) -> float:
    """Share of groups whose rewards are all equal (they carry no learning signal under group baselines)."""
    g = _grouped(rewards, group_size)
    if g.shape[0] == 0:
        return 0.0
    return _stats(g)[3].float().mean().item()


ADVANTAGE_ESTIMATORS: dict[str, Callable[[Tensor, int], Tensor]] = {
    "group": group_advantages,
    "dr_grpo": dr_grpo_advantages,
}


def compute_advantages(name: str, rewards: Tensor, group_size: int) -> Tensor:
    try:
        fn = ADVANTAGE_ESTIMATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown advantage estimator {name!r}; allowed: {', '.join(sorted(ADVANTAGE_ESTIMATORS))}"
        ) from None
    return fn(rewards, group_size)
