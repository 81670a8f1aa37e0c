"""The record of which token ids extend-vocab added (`vepo_added_tokens.json` in the checkpoint).

DPPO-AV reads it (vepo/training/objective_setup.py) so new ids count as rare even after they appear in the training
targets: their embeddings are guesses (means of old rows), which is what the rare-token thresholds are for.
"""

from __future__ import annotations

import json
from pathlib import Path

from vepo.errors import VepoError
from vepo.utils.io import atomic_write_json

ADDED_TOKENS_FILE = "vepo_added_tokens.json"


def write_added_tokens(directory: str | Path, record: dict) -> Path:
    if not isinstance(record.get("new_ids"), list):
        raise ValueError("the added-tokens record needs a 'new_ids' list")
    return atomic_write_json(Path(directory) / ADDED_TOKENS_FILE, record)


def read_added_token_ids(directory: str | Path | None) -> list[int]:
    """New ids recorded in a checkpoint directory; [] when there is no record (any model not extended by vepo)."""
    if not directory:
        return []
    path = Path(directory) / ADDED_TOKENS_FILE
    if not path.is_file():
        return []
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))["new_ids"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise VepoError(f"{path}: not a readable added-tokens record ({type(exc).__name__}); it is written by "
                        f"vepo extend-vocab: re-run it or delete the file") from None
    if not all(isinstance(i, int) and i >= 0 for i in ids):
        raise VepoError(f"{path}: 'new_ids' must be a list of non-negative token ids")
    return ids
