"""Build the configured objective (cheap: imports only the pure-torch objectives package), and DPPO-AV's
token-frequency table: built once per (tokenizer, training targets) and cached in the run directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vepo.data.prompts import make_completion
from vepo.errors import VepoError
from vepo.objectives import get_objective
from vepo.objectives.rarity import load_rarity_table, rarity_from_counts, save_rarity_table, token_counts
from vepo.objectives.registry import allowed_params
from vepo.tokenization.added_tokens import read_added_token_ids


def build_objective(name: str, params: dict[str, Any], max_completion_length: int, vocab_size: int | None = None):
    """`get_objective(name, **params)`. Facts the run already knows are filled in unless the algo config sets
    them, so they can never disagree silently: L_max (`train.max_completion_length`) for objectives that normalise
    by it, and |V| (the policy tokenizer's size) for ESPO's entropy-adaptive clip."""
    params = dict(params)
    known = {"max_completion_length": max_completion_length, "vocab_size": vocab_size}
    try:
        allowed = allowed_params(name)
        for key, value in known.items():
            if key in allowed and params.get(key) is None and value is not None:
                params[key] = value
        return get_objective(name, **params)
    except (ValueError, TypeError) as exc:
        raise VepoError(f"config error: algo '{name}': {exc}") from None


def _fingerprint(tokenizer, targets: list[str]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    for t in targets:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def mark_added_tokens_rare(rarity, new_ids: list[int]):
    """Rarity 1 for ids `vepo extend-vocab` added: their embeddings are initial guesses however often the targets
    use them. (The counts are left as they are, so a used new id lands in the 'rare' bucket, an unused one in 'new'.)"""
    rarity = rarity.clone()
    ids = [i for i in new_ids if 0 <= i < rarity.shape[0]]
    rarity[ids] = 1.0
    return rarity


def rarity_table(tokenizer, targets: list[str], cache_dir: Path, new_ids: list[int] | None = None):
    """(rarity (V,), counts (V,), path of the cached table). Counts are over the targets as the policy sees them
    (completion text + EOS), with the policy tokenizer; ids never seen (new vocabulary) get rarity 1, and so do the
    ids extend-vocab added (`new_ids`; None: read from the tokenizer's checkpoint directory)."""
    key = _fingerprint(tokenizer, targets)
    path = Path(cache_dir) / f"token_counts_{key}.safetensors"
    if path.is_file():
        counts, _ = load_rarity_table(path)
    else:
        ids = [tokenizer(make_completion(t), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
               for t in targets]
        counts = token_counts(ids, len(tokenizer))
        save_rarity_table(path, counts, {"fingerprint": key, "n_targets": len(targets),
                                         "tokenizer": getattr(tokenizer, "name_or_path", "")})
    if new_ids is None:
        new_ids = read_added_token_ids(getattr(tokenizer, "name_or_path", None))
    return mark_added_tokens_rare(rarity_from_counts(counts), new_ids), counts, path
