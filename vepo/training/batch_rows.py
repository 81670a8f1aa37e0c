"""Row operations on TRL's generation batch (a dict of tensors whose first dimension is the completion index).

Prompts are left-padded and completions right-padded, so two batches of different widths are concatenated by
padding each key on its own side first. Used by dynamic sampling to swap degenerate groups for fresh ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LEFT_PADDED = {"prompt_ids", "prompt_mask"}
_SCALARS = {"num_items_in_batch"}


def _pad_to(x: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    missing = width - x.size(1)
    if missing <= 0:
        return x
    pad = [0, 0] * (x.dim() - 2) + ([missing, 0] if left else [0, missing])
    return F.pad(x, pad, value=value)


def concat_rows(a: dict, b: dict, pad_token_id: int) -> dict:
    """Rows of `a` followed by rows of `b`; keys present in only one batch are dropped (they cannot be aligned)."""
    out = {}
    for key in a.keys() & b.keys():
        x, y = a[key], b[key]
        if key in _SCALARS or not isinstance(x, torch.Tensor):
            continue
        if x.dim() >= 2:
            width = max(x.size(1), y.size(1))
            value = pad_token_id if key.endswith("_ids") and "topk" not in key else 0
            left = key in _LEFT_PADDED
            x, y = _pad_to(x, width, value, left), _pad_to(y, width, value, left)
        out[key] = torch.cat([x, y.to(x.device)], dim=0)
    out["num_items_in_batch"] = out["completion_mask"].sum()
    return out


def select_rows(batch: dict, index: torch.Tensor) -> dict:
    """The rows `index` (1-D long tensor) of every per-row tensor; the token count is recomputed."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and key not in _SCALARS and value.dim() >= 1:
            out[key] = value.index_select(0, index.to(value.device))
    out["num_items_in_batch"] = out["completion_mask"].sum()
    return out


def degenerate_groups(advantages: torch.Tensor, group_size: int, tol: float = 1e-6) -> torch.Tensor:
    """Boolean (n_groups,): groups whose rewards were all equal (every advantage is zero)."""
    return (advantages.view(-1, group_size).abs() <= tol).all(dim=1)
