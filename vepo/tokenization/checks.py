"""Each tokenization command's config checks, in one place, run before any job starts: `vepo tokenize-stats`
(tokenizers, split, limits, every language's FLORES file) and `vepo extend-vocab` (model, files, sizes)."""

from __future__ import annotations

import re

from vepo.data.flores import check_split, flores_root, open_flores
from vepo.data.languages import canonical_code, is_known
from vepo.errors import VepoError
from vepo.tokenization.corpus import as_paths
from vepo.tokenization.extension import SUBWORD_KINDS
from vepo.tokenization.languages import resolve_languages
from vepo.tokenization.segmenters import segmenter_for

_CODE = re.compile(r"^[a-z]{2,3}_[A-Z][a-z]{3}$")


def open_dataset(cfg):
    root = flores_root(cfg.data.flores_dir)
    if root is None:
        raise VepoError("tokenize-stats reads FLORES text: pass data.flores_dir=<dir with dev/ and devtest/> "
                        "or set $VEPO_FLORES_DIR")
    return open_flores(root, version=cfg.data.flores_version)


def check_tokenize_stats_config(cfg) -> None:
    """Cheap checks before any job starts: tokenizers named, split and limits valid, every language's file there."""
    if not cfg.tokenizers:
        raise VepoError("tokenize-stats needs tokenizers: pass tokenizers=[<HF id, directory or .model file>,...]")
    check_split(cfg.split)
    if cfg.max_sentences is not None and cfg.max_sentences < 1:
        raise VepoError(f"max_sentences={cfg.max_sentences} must be >= 1 (or null for all sentences)")
    segmenter_for("eng_Latn", cfg.zh_segmenter)  # validates zh_segmenter
    langs = cfg.langs if isinstance(cfg.langs, (str, type(None))) else list(cfg.langs)
    resolve_languages(langs, open_dataset(cfg), cfg.split)


def target_code(code: str) -> str:
    """A FLORES code in canonical spelling; an unknown code of the right shape (a language of your own, toy_Tibt)
    stays as it is, because only its script is needed (the word segmenter)."""
    if is_known(code) or not _CODE.match(code):
        return canonical_code(code)
    return code


def check_extend_vocab_config(cfg) -> None:
    """Cheap checks before any job starts: model, files, sizes."""
    from vepo.models.paths import check_model_path

    if cfg.model.path is None:
        raise VepoError("extend-vocab needs a model: pass model=<HF id or checkpoint directory>")
    check_model_path(cfg.model.path)
    as_paths(cfg.corpus, "corpus")
    if cfg.heldout is not None:
        as_paths(cfg.heldout, "heldout")
    if cfg.added_tokens < 1:
        raise VepoError(f"added_tokens={cfg.added_tokens} must be >= 1")
    if cfg.subword not in SUBWORD_KINDS:
        raise VepoError(f"subword='{cfg.subword}' is not supported; use one of {', '.join(SUBWORD_KINDS)}")
    if not 0.0 < cfg.heldout_fraction < 1.0:
        raise VepoError(f"heldout_fraction={cfg.heldout_fraction} must be between 0 and 1 (exclusive)")
    if cfg.min_count < 1:
        raise VepoError(f"min_count={cfg.min_count} must be >= 1")
    if cfg.train_vocab_size is not None and cfg.train_vocab_size < 2:
        raise VepoError(f"train_vocab_size={cfg.train_vocab_size} must be >= 2 (or null to size it from the corpus)")
    target_code(cfg.lang.tgt)
    segmenter_for("eng_Latn", cfg.zh_segmenter)
