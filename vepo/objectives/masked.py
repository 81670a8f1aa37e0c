"""Masked reductions that never return NaN.

Masked positions are selected away with torch.where (not multiplied by 0), so junk there (inf, huge values) cannot leak
into the result; counts are clamped at 1 so all-masked rows or batches give 0 instead of 0/0.
Non-binary masks act as weights: sum = Σ x·m over positions with m != 0, count = Σ m.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _weights(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    m = mask.to(x.dtype) if x.is_floating_point() else mask.float()
    return torch.broadcast_tensors(x, m)


def masked_sum(x: Tensor, mask: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    x, m = _weights(x, mask)
    v = torch.where(m != 0, x * m, torch.zeros_like(x))
    return v.sum() if dim is None else v.sum(dim, keepdim=keepdim)


def masked_count(mask: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    m = mask.float() if not mask.is_floating_point() else mask
    return m.sum() if dim is None else m.sum(dim, keepdim=keepdim)


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    x, m = _weights(x, mask)
    count = masked_count(m, dim, keepdim).clamp(min=1.0)
    return masked_sum(x, m, dim, keepdim) / count


def masked_var(x: Tensor, mask: Tensor, dim: int | None = None, keepdim: bool = False, unbiased: bool = False) -> Tensor:
    """Masked variance; 0 (not NaN) when fewer than 2 (unbiased) or 1 (biased) valid elements."""
    x, m = _weights(x, mask)
    mean = masked_mean(x, m, dim, keepdim=True)
    sq = masked_sum((x - mean) ** 2, m, dim, keepdim)
    count = masked_count(m, dim, keepdim)
    denom = (count - 1.0) if unbiased else count
    return sq / denom.clamp(min=1.0)
