"""Which sentence encoder (and threshold) a semantic reward uses when its preset says `model: auto` / `tau: auto`.

The toy language has its own encoder, trained in code on the run's toy training split (vepo/rewards/toy_encoder.py)
and kept in the run directory (`models/semantic/`), because no shipped encoder knows it. It is a function of the toy
version and the corpus settings only, so a finished one is also kept in a per-user cache (`$VEPO_CACHE_DIR`, default
`~/.cache/vepo`) and copied from there: a sweep trains it once. Every real language gets LaBSE (or whatever the user
sets with `reward.terms.<name>.params.model=<id or local dir>`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from vepo.config.schema import DataConfig, RewardConfig
from vepo.data.toy import TOY_TGT_CODE
from vepo.rewards.semantic import AUTO, DEFAULT_MODEL, DEFAULT_TAU

log = logging.getLogger("vepo")

SEMANTIC_TYPE = "semantic"
# Real languages get the semantic reward's own defaults (LaBSE, tau 0.5).
REAL_LANGUAGE_ENCODER, REAL_LANGUAGE_TAU = DEFAULT_MODEL, DEFAULT_TAU
TOY_ENCODER_DESCRIPTION = "the toy encoder, trained into the run directory"
TOY_ENCODER_SUBDIR = Path("models") / "semantic"
CACHE_ENV = "VEPO_CACHE_DIR"
ENCODER_BATCH = 64  # sources per contrastive batch (fewer when the toy training split is smaller)


def auto_semantic_terms(reward: RewardConfig) -> list[str]:
    """Names of the semantic terms and gates whose model is left to vepo (`auto` or unset)."""
    entries = {**reward.terms, **reward.gates}
    return [name for name, term in entries.items()
            if term.type == SEMANTIC_TYPE and str(term.params.get("model", AUTO)) == AUTO]


def auto_encoder(tgt_lang: str) -> str:
    """What `model: auto` becomes for `tgt_lang`, in words (for --dry-run, before anything is trained)."""
    return TOY_ENCODER_DESCRIPTION if tgt_lang == TOY_TGT_CODE else REAL_LANGUAGE_ENCODER


def _cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vepo").expanduser()


def _toy_settings(data: DataConfig) -> dict:
    # The run's own corpus: its dev/devtest sentences stay unseen by the encoder.
    return {"corpus_seed": data.seed, "n_train": data.n_train, "n_dev": data.n_dev, "n_devtest": data.n_devtest,
            "batch_size": min(ENCODER_BATCH, data.n_train)}


def _cached_toy_encoder(settings: dict) -> Path | None:
    """The encoder for these settings in the user cache, trained there on first use; None if the cache is not
    writable (the run then trains its own copy)."""
    from vepo.data.toy import TOY_VERSION
    from vepo.rewards.toy_encoder import FORMAT, ensure_toy_encoder

    key = hashlib.sha256(json.dumps({**settings, "toy": TOY_VERSION, "format": FORMAT},
                                    sort_keys=True).encode()).hexdigest()[:16]
    target = _cache_root() / f"toy-encoder-{key}"
    try:
        return ensure_toy_encoder(target, **settings)
    except OSError as exc:
        log.warning("toy encoder cache %s unusable (%s); training the encoder in the run directory", target, exc)
        return None


def toy_encoder(run_dir: Path, data: DataConfig) -> Path:
    """The run's toy encoder directory, trained (or copied from the user cache) on first use."""
    from vepo.rewards.toy_encoder import ensure_toy_encoder

    settings = _toy_settings(data)
    target = run_dir / TOY_ENCODER_SUBDIR
    if not target.exists():
        cached = _cached_toy_encoder(settings)
        if cached is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".semantic.", suffix=".tmp"))
            shutil.copytree(cached, tmp / "copy")
            os.replace(tmp / "copy", target)
            tmp.rmdir()
    return ensure_toy_encoder(target, **settings)  # validates the copy; trains here if there was none


def resolve_semantic_models(reward: RewardConfig, tgt_lang: str, run_dir: Path,
                            data: DataConfig | None = None) -> tuple[RewardConfig, dict[str, str]]:
    """A copy of `reward` with every `auto` semantic model (and `auto` tau) made concrete, and {term: model}."""
    names = auto_semantic_terms(reward)
    if not names:
        return reward, {}
    if tgt_lang == TOY_TGT_CODE:
        from vepo.rewards.toy_encoder import RECOMMENDED_TAU

        model, tau = str(toy_encoder(run_dir, data or DataConfig())), RECOMMENDED_TAU
    else:
        model, tau = REAL_LANGUAGE_ENCODER, REAL_LANGUAGE_TAU
    resolved = copy.deepcopy(reward)
    for name in names:
        term = resolved.terms.get(name) or resolved.gates[name]
        params = {**term.params, "model": model}
        if str(params.get("tau", AUTO)) == AUTO:
            params["tau"] = tau
        term.params = params
    return resolved, {name: model for name in names}
