"""Word segmenters for fertility and continued-word share: character spans of the words of a text.

One segmenter per script (EVALUATION.md): whitespace for scripts that separate words with spaces, Tibetan syllables
(split on tsheg and shad), Chinese with jieba or one word per character. Scripts written without word separators
(Thai, Lao, Khmer, Myanmar, Japanese) have none here: their "words" between spaces are phrases, and a fertility over
phrases would not be comparable with the others, so those languages get no fertility.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vepo.data.languages import script_of
from vepo.errors import VepoError

# Tsheg U+0F0B, non-breaking tsheg U+0F0C, shad U+0F0D and its variants up to U+0F12 separate syllables.
_TIBETAN_SYLLABLE = re.compile(r"[^\s\u0F0B-\u0F12]+")
_NON_SPACE = re.compile(r"\S+")
_NOT_SEGMENTED = {"Thai", "Laoo", "Khmr", "Mymr", "Jpan"}
_CHINESE = {"Hans", "Hant"}
ZH_SEGMENTERS = ("jieba", "chars")


@dataclass(frozen=True)
class Segmenter:
    name: str  # recorded next to every fertility figure
    spans: Callable[[str], np.ndarray]  # text -> (n_words, 2) int64 [start, end) character offsets


def _regex_spans(pattern: re.Pattern) -> Callable[[str], np.ndarray]:
    def spans(text: str) -> np.ndarray:
        flat = [pos for m in pattern.finditer(text) for pos in m.span()]
        return np.asarray(flat, dtype=np.int64).reshape(-1, 2)

    return spans


def _jieba_spans(text: str) -> np.ndarray:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # jieba logs its dictionary loading on every first use
    flat = [pos for word, start, end in jieba.tokenize(text) if not word.isspace() for pos in (start, end)]
    return np.asarray(flat, dtype=np.int64).reshape(-1, 2)


def _char_spans(text: str) -> np.ndarray:
    starts = np.fromiter((i for i, ch in enumerate(text) if not ch.isspace()), dtype=np.int64)
    return np.stack([starts, starts + 1], axis=1)


WHITESPACE = Segmenter("whitespace", _regex_spans(_NON_SPACE))
TIBETAN_SYLLABLES = Segmenter("tibetan-syllables", _regex_spans(_TIBETAN_SYLLABLE))
JIEBA = Segmenter("jieba", _jieba_spans)
CHARACTERS = Segmenter("characters", _char_spans)


def segmenter_for(code: str, zh_segmenter: str = "jieba") -> Segmenter | None:
    """The word segmenter for a FLORES code (by its script), or None where no reliable one exists."""
    if zh_segmenter not in ZH_SEGMENTERS:
        raise VepoError(f"zh_segmenter='{zh_segmenter}' is not supported; use one of {', '.join(ZH_SEGMENTERS)}")
    script = script_of(code)
    if script == "Tibt":
        return TIBETAN_SYLLABLES
    if script in _CHINESE:
        return JIEBA if zh_segmenter == "jieba" else CHARACTERS
    if script in _NOT_SEGMENTED:
        return None
    return WHITESPACE
