"""Structured-config schemas of `vepo tokenize-stats` and `vepo extend-vocab` (registered in vepo/config/schema.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from vepo.config.ranges import ranged, seed_field
from vepo.config.schema import LangConfig, ModelConfig


@dataclass
class FloresSourceConfig:
    """Where the FLORES text is read from (docs/design/evaluation.md: never committed, always pointed to)."""

    flores_dir: Optional[str] = None  # None: $VEPO_FLORES_DIR
    flores_version: Optional[str] = None  # recorded in the results; None: what the directory says


@dataclass
class TokenizeStatsConfig:
    tokenizers: List[str] = field(default_factory=list)  # HF ids or directories, SentencePiece .model files
    langs: Any = "all"  # all | a suite name (conf/suite/<name>.yaml) | a list of FLORES codes
    split: str = "devtest"
    pivot: str = "eng_Latn"  # premium = tokens(lang) / tokens(pivot) on the same sentences
    data: FloresSourceConfig = field(default_factory=FloresSourceConfig)
    zh_segmenter: str = "jieba"  # jieba | chars: words of Chinese text (fertility)
    # only the first N sentences of every language (quick looks)
    max_sentences: Optional[int] = ranged(None, ge=1, note="null: every sentence")
    plot: bool = True
    show_table: bool = True
    output_dir: Optional[str] = None  # None: the Hydra run directory
    trust_remote_code: bool = False


@dataclass
class ExtendVocabConfig:
    model: ModelConfig = field(default_factory=ModelConfig)  # `model=<id or path>` sets model.path
    lang: LangConfig = field(default_factory=LangConfig)  # `lang=<code>` sets lang.tgt, the language added
    corpus: Any = None  # a text file or a list of them: target-language text, one sentence per line
    added_tokens: int = ranged(1000, ge=1)
    subword: str = "bpe"  # bpe (tokenizers library) | unigram (SentencePiece)
    # None: enough candidates for added_tokens (see extension.py)
    train_vocab_size: Optional[int] = ranged(None, ge=2, note="null: sized from added_tokens")
    min_count: int = ranged(2, ge=1)  # a new piece must occur at least this often in the training text
    heldout: Any = None  # held-out text file(s) for the before/after report; None: hold out part of the corpus
    heldout_fraction: float = ranged(0.1, gt=0, lt=1)
    zh_segmenter: str = "jieba"
    seed: int = seed_field(0)
    output_dir: Optional[str] = None  # the extended checkpoint; None: <run dir>/checkpoint
