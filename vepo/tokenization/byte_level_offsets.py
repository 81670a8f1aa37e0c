"""Character offsets of byte-level BPE tokens (GPT-2, Qwen, Tekken style) from their ids alone, checked per text.

Turning the tokenizers library's offsets into arrays costs about a fifth of a tokenize-stats run. In a byte-level
vocabulary each token stands for known bytes (one per character of the byte alphabet; an added token for its text's
UTF-8), so the byte offsets follow from the ids, and the character offsets from the text's UTF-8. A token that ends
or starts inside a character covers that whole character, which is the library's own convention. A text whose tokens
do not add up to its bytes (a normaliser changed it) takes the library's offsets instead; so does every text when
the tokenizer trims offsets or has a normaliser.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np


def _has_trimming(node) -> bool:
    if isinstance(node, dict):
        if node.get("type") == "ByteLevel" and node.get("trim_offsets"):
            return True
        return any(_has_trimming(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_trimming(v) for v in node)
    return False


@dataclass(frozen=True)
class ByteTable:
    token_bytes: np.ndarray  # bytes each id stands for; -1: unknown, never trusted
    nfc_normalizer: bool  # texts already in NFC pass through an NFC normaliser unchanged

    @classmethod
    def of(cls, spec: dict, vocab: dict[str, int], alphabet: dict[str, int], size: int) -> "ByteTable | None":
        """None when offsets cannot be derived for this tokenizer (offset trimming, a normaliser other than NFC)."""
        normalizer = spec.get("normalizer")
        nfc = normalizer is not None and normalizer.get("type") == "NFC"
        # Only a ByteLevel post-processor trims offsets (the pre-tokenizer's flag does nothing to them).
        if (normalizer is not None and not nfc) or _has_trimming(spec.get("post_processor")):
            return None
        lengths = np.full(size, -1, dtype=np.int64)
        added = {t["id"]: t["content"] for t in spec.get("added_tokens") or []}
        for token, idx in vocab.items():
            if idx in added:
                lengths[idx] = len(added[idx].encode("utf-8"))
            elif all(ch in alphabet for ch in token):
                lengths[idx] = len(token)
        return cls(lengths, nfc)


def offsets_from_ids(table: ByteTable, ids: np.ndarray, lengths: np.ndarray, texts: list[str]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, trusted): character offsets of every token in its own text, and per text whether exact."""
    n = len(texts)
    encoded = [t.encode("utf-8") for t in texts]
    text_bytes = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
    text_chars = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    sentence = np.repeat(np.arange(n), lengths)
    width = table.token_bytes[ids]
    opaque = np.bincount(sentence, weights=(width < 0), minlength=n) > 0
    width = np.maximum(width, 0)
    total = np.bincount(sentence, weights=width, minlength=n).astype(np.int64)
    trusted = ~opaque & (total == text_bytes)
    if table.nfc_normalizer:
        trusted &= np.fromiter((unicodedata.is_normalized("NFC", t) for t in texts), dtype=bool, count=n)

    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    nonempty = lengths > 0
    cumulative = np.cumsum(width)
    before_text = np.zeros(n, dtype=np.int64)
    before_text[nonempty] = cumulative[first[nonempty]] - width[first[nonempty]]
    byte_base = np.concatenate([[0], np.cumsum(text_bytes)[:-1]])
    char_base = np.concatenate([[0], np.cumsum(text_chars)[:-1]])
    # Global byte offsets in the concatenated texts (exact for trusted texts, clipped junk for the others).
    end_byte = cumulative - np.repeat(before_text - byte_base, lengths)
    start_byte = end_byte - width
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    char_of_byte = np.cumsum((data & 0xC0) != 0x80) - 1  # the character each byte belongs to
    if data.size == 0:
        zeros = np.zeros(ids.shape[0], dtype=np.int64)
        return zeros, zeros.copy(), trusted
    last = data.size - 1
    starts = char_of_byte[np.clip(start_byte, 0, last)]
    ends = char_of_byte[np.clip(end_byte - 1, 0, last)] + 1
    ends = np.where(width > 0, ends, starts)
    shift = np.repeat(char_base, lengths)
    return starts - shift, ends - shift, trusted
