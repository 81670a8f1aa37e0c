"""Word segmenters for fertility and continued-word share: character spans of the words of a text.

One segmenter per script (docs/design/evaluation.md): whitespace for scripts that separate words with spaces, Tibetan syllables
(split on tsheg and shad), Chinese with jieba or one word per character. Scripts written without word separators
(Thai, Lao, Khmer, Myanmar, Japanese) have none here: their "words" between spaces are phrases, and a fertility over
phrases would not be comparable with the others, so those languages get no fertility.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vepo.data.languages import script_of
from vepo.errors import VepoError

# Tsheg U+0F0B, non-breaking tsheg U+0F0C, shad U+0F0D and its variants up to U+0F12 separate syllables.
_NOT_SEGMENTED = {"Thai", "Laoo", "Khmr", "Mymr", "Jpan"}
_CHINESE = {"Hans", "Hant"}
ZH_SEGMENTERS = ("jieba", "chars")


@dataclass(frozen=True)
class Segmenter:
    name: str  # recorded next to every fertility figure
    spans: Callable[[str], np.ndarray]  # text -> (n_words, 2) int64 [start, end) character offsets


# Every code point str.isspace() accepts, so the array versions below split exactly where the regexes would.
_WHITESPACE = np.array([c for c in range(0x3001) if chr(c).isspace()], dtype=np.uint32)
_TIBETAN_SEPARATORS = np.concatenate([_WHITESPACE, np.arange(0x0F0B, 0x0F13, dtype=np.uint32)])


def code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _runs_between(separators: np.ndarray) -> Callable[[str], np.ndarray]:
    """Spans of the maximal runs of characters that are not separators, found on the code-point array (a regex
    loop costs seconds over a whole FLORES split)."""

    def spans(text: str) -> np.ndarray:
        inside = ~np.isin(code_points(text), separators)
        edges = np.diff(np.concatenate([[False], inside, [False]]).astype(np.int8))
        return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1).astype(np.int64)

    return spans


def _jieba_spans(text: str) -> np.ndarray:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # jieba logs its dictionary loading on every first use
    flat = [pos for word, start, end in jieba.tokenize(text) if not word.isspace() for pos in (start, end)]
    return np.asarray(flat, dtype=np.int64).reshape(-1, 2)


def _char_spans(text: str) -> np.ndarray:
    starts = np.flatnonzero(~np.isin(code_points(text), _WHITESPACE)).astype(np.int64)
    return np.stack([starts, starts + 1], axis=1)


WHITESPACE = Segmenter("whitespace", _runs_between(_WHITESPACE))
TIBETAN_SYLLABLES = Segmenter("tibetan-syllables", _runs_between(_TIBETAN_SEPARATORS))
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
