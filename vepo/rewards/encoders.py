"""Which sentence encoder a semantic reward uses when its preset says `model: auto`.

The toy language has its own encoder, trained in code on toy pairs and cached in the run directory
(`models/semantic/`), because no shipped encoder knows it. Every real language gets LaBSE (or whatever the user sets
with `reward.terms.<name>.params.model=<id or local dir>`).
"""

from __future__ import annotations

import copy
from pathlib import Path

from vepo.config.schema import RewardConfig
from vepo.data.toy import TOY_TGT_CODE

AUTO = "auto"
SEMANTIC_TYPE = "semantic"
REAL_LANGUAGE_ENCODER = "sentence-transformers/LaBSE"
TOY_ENCODER_SUBDIR = Path("models") / "semantic"


def auto_semantic_terms(reward: RewardConfig) -> list[str]:
    """Names of the semantic terms and gates whose model is left to vepo (`auto` or unset)."""
    entries = {**reward.terms, **reward.gates}
    return [name for name, term in entries.items()
            if term.type == SEMANTIC_TYPE and str(term.params.get("model", AUTO)) == AUTO]


def needs_toy_encoder(reward: RewardConfig, tgt_lang: str) -> bool:
    return tgt_lang == TOY_TGT_CODE and bool(auto_semantic_terms(reward))


def resolve_semantic_models(reward: RewardConfig, tgt_lang: str, run_dir: Path,
                            train: bool = True) -> tuple[RewardConfig, dict[str, str]]:
    """A copy of `reward` with every `auto` semantic model made concrete, and {term: model} for the run's record.

    With train=False (ranks other than 0) the toy encoder is only located, never trained: rank 0 trains it first.
    """
    names = auto_semantic_terms(reward)
    if not names:
        return reward, {}
    if tgt_lang == TOY_TGT_CODE:
        from vepo.rewards.toy_encoder import ensure_toy_encoder

        target = run_dir / TOY_ENCODER_SUBDIR
        model = str(ensure_toy_encoder(target) if train else target)
    else:
        model = REAL_LANGUAGE_ENCODER
    resolved = copy.deepcopy(reward)
    for name in names:
        term = resolved.terms.get(name) or resolved.gates[name]
        term.params = {**term.params, "model": model}
    return resolved, {name: model for name in names}
