"""Token rarity for DPPO-AV: counts over the training targets, a rarity score in [0, 1], buckets, and the cached table.

Rarity (vepo's definition of docs/design/algorithms.md's "1 − percentile rank of count(v)"):
    S = the seen vocabulary (ids with count > 0), n = |S|.
    rank(v) = rank of count(v) among S in decreasing count order, 1 = most frequent; tied counts share the average rank.
    r_v = (rank(v) − 1) / n for v ∈ S;   r_v = 1 for unseen ids (count 0, e.g. newly added vocabulary).
So the most frequent seen id gets 0, the least frequent seen id (n−1)/n (close to 1 but < 1), unseen ids exactly 1;
r is non-increasing in the count and equal for equal counts. Because seen ids stay below 1, r == 1 identifies the
unseen ids without the counts. Equivalently r_v = (#seen ids strictly more frequent + (#ties − 1)/2) / n.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

BUCKET_NAMES = ("new", "rare", "common")
NEW, RARE, COMMON = 0, 1, 2
DEFAULT_RARE_THRESHOLD = 0.8
_COUNTS_KEY = "counts"
_META_KEY = "vepo_meta"


def token_counts(token_id_lists: Iterable[Sequence[int] | Tensor], vocab_size: int) -> Tensor:
    """Occurrences of every id in 0..vocab_size−1 over all sequences: LongTensor (vocab_size,)."""
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    counts = torch.zeros(vocab_size, dtype=torch.long)
    for seq in token_id_lists:
        ids = torch.as_tensor(seq, dtype=torch.long).reshape(-1)
        if ids.numel() == 0:
            continue
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"token id {lo if lo < 0 else hi} outside the vocabulary [0, {vocab_size})")
        counts += torch.bincount(ids, minlength=vocab_size)
    return counts


def rarity_from_counts(counts: Tensor) -> Tensor:
    """FloatTensor (V,) of rarities in [0, 1] (module docstring: average-rank percentile over the seen ids)."""
    counts = torch.as_tensor(counts)
    if counts.dim() != 1:
        raise ValueError(f"counts must be 1-D (V,), got shape {tuple(counts.shape)}")
    if counts.is_floating_point() and not torch.isfinite(counts).all():
        raise ValueError("counts must be finite")
    if (counts < 0).any():
        raise ValueError("counts must be >= 0")
    rarity = torch.ones(counts.shape[0], dtype=torch.float64)
    seen = counts > 0
    n = int(seen.sum())
    if n == 0:
        return rarity.float()
    values, inverse, ties = torch.unique(counts[seen], sorted=True, return_inverse=True, return_counts=True)
    # unique is ascending: the number of seen ids strictly more frequent than value j is n − cumsum(ties)[j].
    more_frequent = n - torch.cumsum(ties, dim=0)
    rank0 = more_frequent.double() + (ties.double() - 1.0) / 2.0  # average rank − 1
    rarity[seen] = rank0[inverse] / n
    return rarity.float()


def lookup_ids(table: Tensor, ids: Tensor, outside: float | int) -> Tensor:
    """table[ids], with ids outside [0, V) (added after the table was built, padding) mapped to `outside`."""
    V = table.shape[0]
    if table.device != ids.device:
        table = table.to(ids.device)
    inside = (ids >= 0) & (ids < V)
    values = table[ids.clamp(0, V - 1)]
    return torch.where(inside, values, torch.full_like(values, outside))


def rarity_bucket(
    rarity: Tensor, counts: Tensor | None = None, rare_threshold: float = DEFAULT_RARE_THRESHOLD
) -> Tensor:
    """LongTensor of buckets, same shape as rarity: NEW (0) unseen, RARE (1) seen with r ≥ rare_threshold, COMMON (2).

    Unseen = count 0 when counts are given, else r ≥ 1 (seen ids always have r < 1, module docstring).
    """
    new = (counts == 0) if counts is not None else (rarity >= 1.0)
    bucket = torch.where(rarity >= rare_threshold, RARE, COMMON)
    return torch.where(new, NEW, bucket).long()


def save_rarity_table(path: str | os.PathLike, counts: Tensor, meta: dict) -> None:
    """Write counts (V,) and a JSON-serialisable meta dict to a safetensors file, atomically (temp file + rename)."""
    counts = torch.as_tensor(counts)
    if counts.dim() != 1 or counts.is_floating_point() or (counts < 0).any():
        raise ValueError(f"counts must be a 1-D non-negative integer tensor, got {counts.dtype} {tuple(counts.shape)}")
    try:
        meta_json = json.dumps(meta, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"rarity table meta must be JSON-serialisable: {e}") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({_COUNTS_KEY: counts.long().contiguous().cpu()}, tmp, metadata={_META_KEY: meta_json})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_rarity_table(path: str | os.PathLike) -> tuple[Tensor, dict]:
    """Read a table written by save_rarity_table: (counts LongTensor (V,), meta dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"rarity table not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})[_META_KEY])
            counts = f.get_tensor(_COUNTS_KEY)
    except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as e:
        raise ValueError(f"malformed rarity table {path}: {type(e).__name__}: {e}") from None
    if counts.dim() != 1:
        raise ValueError(f"malformed rarity table {path}: counts has shape {tuple(counts.shape)}, expected (V,)")
    return counts.long(), meta
