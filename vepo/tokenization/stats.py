"""Tokenization-efficiency measures of one tokenizer on one set of sentences (docs/design/evaluation.md, docs/tokenization.md).

All counts are totals over the sentences, so ratios weight every character (or word) equally:
chars/token, bytes/token (UTF-8), fertility = tokens / words, continued-word share = words covered by two or more
tokens / words, byte-fallback rate and UNK rate = such tokens / tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from vepo.tokenization.segmenters import Segmenter
from vepo.tokenization.sources import Encoded, TokenizerSource


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class TextStats:
    sentences: int
    chars: int
    bytes: int
    tokens: int
    byte_fallback_tokens: int
    unk_tokens: int
    segmenter: str | None = None  # None: no word segmenter for this script, so no fertility
    words: int | None = None
    continued_words: int | None = None

    @property
    def chars_per_token(self) -> float | None:
        return _ratio(self.chars, self.tokens)

    @property
    def bytes_per_token(self) -> float | None:
        return _ratio(self.bytes, self.tokens)

    @property
    def fertility(self) -> float | None:
        return _ratio(self.tokens, self.words) if self.words is not None else None

    @property
    def continued_word_share(self) -> float | None:
        return _ratio(self.continued_words, self.words) if self.words is not None else None

    @property
    def byte_fallback_rate(self) -> float | None:
        return _ratio(self.byte_fallback_tokens, self.tokens)

    @property
    def unk_rate(self) -> float | None:
        return _ratio(self.unk_tokens, self.tokens)

    def to_dict(self) -> dict:
        return {**asdict(self), "chars_per_token": self.chars_per_token, "bytes_per_token": self.bytes_per_token,
                "fertility": self.fertility, "continued_word_share": self.continued_word_share,
                "byte_fallback_rate": self.byte_fallback_rate, "unk_rate": self.unk_rate}


def tokens_per_word(token_starts: np.ndarray, token_ends: np.ndarray, word_spans: np.ndarray) -> np.ndarray:
    """How many tokens overlap each word's [start, end) span.

    A token overlaps a word when start < word_end and end > word_start; the two ways of not overlapping exclude each
    other, so the count is #(start < word_end) − #(end <= word_start), two binary searches on sorted arrays.
    Zero-width tokens (byte pieces of one character, a lone word-start marker) are widened to the character they
    precede, so they count for that word.
    """
    starts = np.sort(token_starts)
    ends = np.sort(np.maximum(token_ends, token_starts + 1))
    before_end = np.searchsorted(starts, word_spans[:, 1], side="left")
    ended = np.searchsorted(ends, word_spans[:, 0], side="right")
    return before_end - ended


def measure(source: TokenizerSource, texts: list[str], segmenter: Segmenter | None,
            encoded: Encoded | None = None) -> TextStats:
    """Stats of `source` on `texts`; words come from `segmenter` on the texts joined by newlines, so token offsets
    (per text) and word spans (joined) meet on one character axis."""
    enc = encoded if encoded is not None else source.encode(texts)
    ids = enc.ids
    unk = int((ids == source.unk_id).sum()) if source.unk_id is not None else 0
    in_vocab = ids[ids < source.byte_mask.shape[0]]
    common = dict(
        sentences=len(texts), chars=sum(map(len, texts)), bytes=sum(len(t.encode("utf-8")) for t in texts),
        tokens=int(ids.size), byte_fallback_tokens=int(source.byte_mask[in_vocab].sum()), unk_tokens=unk,
    )
    if segmenter is None:
        return TextStats(**common)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    text_start = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])  # +1: the joining newline
    shift = np.repeat(text_start, enc.lengths)
    words = segmenter.spans("\n".join(texts))
    per_word = tokens_per_word(enc.starts + shift, enc.ends + shift, words)
    return TextStats(**common, segmenter=segmenter.name, words=int(words.shape[0]),
                     continued_words=int((per_word >= 2).sum()))
