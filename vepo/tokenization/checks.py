"""Each tokenization command's config checks, in one place, run before any job starts: `vepo tokenize-stats`
(tokenizers, split, every language's FLORES file) and `vepo extend-vocab` (model, files, choices). Numeric limits
are declared in the schema (vepo/config/tokenization.py) and checked first by vepo/config/ranges.py."""

from __future__ import annotations

import re

from vepo.config.ranges import check_ranges
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
    """Before any job starts: tokenizers named, split and limits valid, every language's file there and readable
    (UTF-8, not empty, no empty line) and line-parallel with the pivot's."""
    check_ranges(cfg)
    if not cfg.tokenizers:
        raise VepoError("tokenize-stats needs tokenizers: pass tokenizers=[<HF id, directory or .model file>,...]")
    check_split(cfg.split)
    segmenter_for("eng_Latn", cfg.zh_segmenter)  # validates zh_segmenter
    langs = cfg.langs if isinstance(cfg.langs, (str, type(None))) else list(cfg.langs)
    dataset = open_dataset(cfg)
    codes = resolve_languages(langs, dataset, cfg.split)
    pivot = canonical_code(cfg.pivot) if is_known(cfg.pivot) else cfg.pivot
    if dataset.has(cfg.split, pivot):
        dataset.check_directions(cfg.split, [(pivot, code) for code in codes])
    else:  # no pivot: the premium column stays empty (a note in the report); each language must still read
        for code in codes:
            dataset.read(cfg.split, code)


def target_code(code: str) -> str:
    """A FLORES code in canonical spelling; an unknown code of the right shape (a language of your own, toy_Tibt)
    stays as it is, because only its script is needed (the word segmenter)."""
    if is_known(code) or not _CODE.match(code):
        return canonical_code(code)
    return code


def check_extend_vocab_config(cfg) -> None:
    """Cheap checks before any job starts: sizes, model, files."""
    from vepo.models.paths import check_model_path

    check_ranges(cfg)
    if cfg.model.path is None:
        raise VepoError("extend-vocab needs a model: pass model=<HF id or checkpoint directory>")
    check_model_path(cfg.model.path)
    as_paths(cfg.corpus, "corpus")
    if cfg.heldout is not None:
        as_paths(cfg.heldout, "heldout")
    if cfg.subword not in SUBWORD_KINDS:
        raise VepoError(f"subword='{cfg.subword}' is not supported; use one of {', '.join(SUBWORD_KINDS)}")
    target_code(cfg.lang.tgt)
    segmenter_for("eng_Latn", cfg.zh_segmenter)
