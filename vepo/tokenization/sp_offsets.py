"""Character offsets of SentencePiece tokens from their ids alone, checked per sentence.

sentencepiece's own offset mapping builds a Python dict, a piece string and a tuple per token: over a whole FLORES
split that costs most of the run. Its ids come back as numpy arrays almost for free, and for most sentences the
offsets follow from the ids: a piece covers its text with "▁" read as a space; a byte piece covers nothing except the
last byte of a character, which covers that character (sentencepiece's own convention); the first piece's "▁" is the
dummy prefix, not in the text. Where the lengths so obtained do not add up to the sentence's length (whitespace the
normaliser removed, a character it expanded, an unknown piece), the sentence takes sentencepiece's offset mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SPACE_MARK = "\u2581"


@dataclass(frozen=True)
class PieceTable:
    """Per-id facts about a SentencePiece vocabulary."""

    surface_len: np.ndarray  # characters a (non-byte) piece covers; -1: unknown/control, never trusted
    is_byte: np.ndarray
    is_continuation_byte: np.ndarray  # byte pieces 0x80–0xBF: not the first byte of a character
    starts_with_space: np.ndarray

    @classmethod
    def of(cls, processor) -> "PieceTable":
        size = processor.get_piece_size()
        pieces = [processor.id_to_piece(i) for i in range(size)]
        is_byte = np.array([processor.is_byte(i) for i in range(size)], dtype=bool)
        opaque = np.array([processor.is_unknown(i) or processor.is_control(i) for i in range(size)], dtype=bool)
        surface = np.array([len(p.replace(_SPACE_MARK, " ")) for p in pieces], dtype=np.int64)
        surface[opaque] = -1
        continuation = np.zeros(size, dtype=bool)
        for i in np.flatnonzero(is_byte):
            continuation[i] = 0x80 <= int(pieces[i][3:5], 16) < 0xC0  # "<0xNN>"
        return cls(surface, is_byte, continuation, np.array([p.startswith(_SPACE_MARK) for p in pieces]))


def offsets_from_ids(table: PieceTable, ids: np.ndarray, lengths: np.ndarray, texts: list[str]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, trusted): offsets of every token in its own text, and per text whether they are exact."""
    n = len(texts)
    sentence = np.repeat(np.arange(n), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    last = first + lengths - 1
    nonempty = lengths > 0

    width = table.surface_len[ids].copy()
    # A byte piece carries its character only when the next piece of the same text does not continue it.
    next_continues = np.zeros(ids.shape[0], dtype=bool)
    next_continues[:-1] = table.is_continuation_byte[ids[1:]]
    next_continues[last[nonempty]] = False
    byte = table.is_byte[ids]
    width[byte] = (~next_continues[byte]).astype(np.int64)

    text_len = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    opaque = np.bincount(sentence, weights=(width < 0), minlength=n) > 0
    total = np.bincount(sentence, weights=np.maximum(width, 0), minlength=n).astype(np.int64)
    leading_space = np.fromiter((t[:1].isspace() for t in texts), dtype=bool, count=n)
    dummy = nonempty & (total == text_len + 1) & ~leading_space
    dummy[nonempty] &= table.starts_with_space[ids[first[nonempty]]]
    width[first[dummy]] -= 1
    trusted = ~opaque & ((total == text_len) | dummy)

    width = np.maximum(width, 0)
    cumulative = np.cumsum(width)
    before_text = np.zeros(n, dtype=np.int64)  # characters of the earlier texts in `cumulative`
    before_text[nonempty] = cumulative[first[nonempty]] - width[first[nonempty]]
    ends = cumulative - np.repeat(before_text, lengths)
    return ends - width, ends, trusted
