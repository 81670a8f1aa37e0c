"""DPPO-AV's token-frequency table: built once per (tokenizer, training targets) and cached in the run directory."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from vepo.data.prompts import make_completion
from vepo.objectives.rarity import load_rarity_table, rarity_from_counts, save_rarity_table, token_counts


def _fingerprint(tokenizer, targets: list[str]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    for t in targets:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def rarity_table(tokenizer, targets: list[str], cache_dir: Path):
    """(rarity (V,), counts (V,), path of the cached table). Counts are over the targets as the policy sees them
    (completion text + EOS), with the policy tokenizer; ids never seen (new vocabulary) get rarity 1."""
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
    return rarity_from_counts(counts), counts, path
