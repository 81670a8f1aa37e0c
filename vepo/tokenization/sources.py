"""Tokenizers from what users name: HF ids, tokenizer or checkpoint directories, `tokenizer.json` files and
SentencePiece model files, behind one batched `encode` that returns flat numpy arrays.

HF tokenizers must be fast (tokenizers-backed): statistics over 200 languages need batched encodes with offsets.
SentencePiece models run in the sentencepiece library itself, so their segmentation is exactly the model's (converting
them to a fast tokenizer needs protobuf and can differ on whitespace handling).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from vepo.errors import VepoError
from vepo.tokenization.byte_level_offsets import ByteTable
from vepo.tokenization.byte_level_offsets import offsets_from_ids as byte_offsets_from_ids
from vepo.tokenization.sp_offsets import PieceTable, offsets_from_ids

_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
_SPACE_MARK = "\u2581"  # SentencePiece's "▁"
BYTE_PIECES = "<0xNN> byte pieces"
PARTIAL_UTF8 = "partial-UTF-8 byte-level tokens"
NO_BYTE_TOKENS = "none (no byte tokens)"


@dataclass
class Encoded:
    """A batch of texts as flat arrays: token ids, tokens per text, and each token's [start, end) character offsets
    in its own text."""

    ids: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _flatten(id_lists: list[list[int]], offset_lists: list[list[tuple[int, int]]]) -> Encoded:
    lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    total = int(lengths.sum())
    ids = np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=total)
    offsets = np.fromiter(chain.from_iterable(chain.from_iterable(offset_lists)), dtype=np.int64, count=2 * total)
    offsets = offsets.reshape(total, 2)
    return Encoded(ids=ids, lengths=lengths, starts=offsets[:, 0].copy(), ends=offsets[:, 1].copy())


def _flatten_ids(id_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    return np.fromiter(chain.from_iterable(id_lists), dtype=np.int64, count=int(lengths.sum())), lengths


def _with_exact_offsets(ids, lengths, starts, ends, redo: np.ndarray, exact: Encoded | None) -> Encoded:
    """Replace the derived offsets of the texts `redo` with the tokenizer's own (`exact`, same tokens)."""
    if exact is None:
        return Encoded(ids=ids, lengths=lengths, starts=starts, ends=ends)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    exact_first = np.concatenate([[0], np.cumsum(exact.lengths)[:-1]])
    for k, i in enumerate(redo):
        dst = slice(first[i], first[i] + lengths[i])
        src = slice(exact_first[k], exact_first[k] + exact.lengths[k])
        starts[dst], ends[dst] = exact.starts[src], exact.ends[src]
    return Encoded(ids=ids, lengths=lengths, starts=starts, ends=ends)


@lru_cache(maxsize=1)
def byte_level_alphabet() -> dict[str, int]:
    """GPT-2 byte-level alphabet: the printable character that stands for each byte, mapped back to the byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


def _is_partial_utf8(token: str, alphabet: dict[str, int]) -> bool:
    if not token or any(ch not in alphabet for ch in token):
        return False  # not a byte-level string (special or added token)
    try:
        bytes(alphabet[ch] for ch in token).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _has_type(node: Any, type_name: str) -> bool:
    if isinstance(node, dict):
        return node.get("type") == type_name or any(_has_type(v, type_name) for v in node.values())
    if isinstance(node, list):
        return any(_has_type(v, type_name) for v in node)
    return False


class HFTokenizerSource:
    """A fast HF tokenizer (or a bare `tokenizers.Tokenizer`), encoded with `encode_batch` on a private copy of its
    backend with truncation and padding switched off."""

    kind = "hf"

    def __init__(self, name: str, backend, unk_id: int | None = None, hf_tokenizer=None):
        from tokenizers import Tokenizer

        self.name = name
        self.hf_tokenizer = hf_tokenizer
        serialized = backend.to_str()  # once: a 100k-vocabulary tokenizer serialises to megabytes
        self._backend = Tokenizer.from_str(serialized)
        self._backend.no_truncation()
        self._backend.no_padding()
        spec = json.loads(serialized)
        self.vocab = self._backend.get_vocab(with_added_tokens=True)
        self.vocab_size = max(self.vocab.values()) + 1
        self.unk_id = unk_id if unk_id is not None else self._model_unk_id(spec["model"])
        self.byte_mask, self.byte_fallback_method = self._byte_tokens(spec)
        self._byte_table = ByteTable.of(spec, self.vocab, byte_level_alphabet(), self.vocab_size) \
            if self.byte_fallback_method == PARTIAL_UTF8 else None

    def _model_unk_id(self, model: dict) -> int | None:
        if isinstance(model.get("unk_id"), int):  # Unigram
            return model["unk_id"]
        unk = model.get("unk_token")
        return self._backend.token_to_id(unk) if unk else None

    def _byte_tokens(self, spec: dict) -> tuple[np.ndarray, str]:
        mask = np.zeros(self.vocab_size, dtype=bool)
        added = {t["id"] for t in spec.get("added_tokens") or []}
        if spec["model"].get("byte_fallback"):
            for token, idx in self.vocab.items():
                mask[idx] = bool(_BYTE_PIECE.match(token))
            return mask, BYTE_PIECES
        if _has_type(spec.get("pre_tokenizer"), "ByteLevel") or _has_type(spec.get("decoder"), "ByteLevel"):
            alphabet = byte_level_alphabet()
            for token, idx in self.vocab.items():
                mask[idx] = idx not in added and _is_partial_utf8(token, alphabet)
            return mask, PARTIAL_UTF8
        return mask, NO_BYTE_TOKENS

    def encode_with_offsets(self, texts: list[str]) -> Encoded:
        """The library's own offsets (exact; turning them into arrays costs a fifth of the run)."""
        encodings = self._backend.encode_batch(texts, add_special_tokens=False)
        return _flatten([e.ids for e in encodings], [e.offsets for e in encodings])

    def encode(self, texts: list[str]) -> Encoded:
        """Byte-level vocabularies: ids only, offsets derived from them (byte_level_offsets), the library's offsets
        for texts where that is not exact. Other tokenizers: the library's offsets."""
        if self._byte_table is None:
            return self.encode_with_offsets(texts)
        ids, lengths = _flatten_ids([e.ids for e in self._backend.encode_batch_fast(texts, add_special_tokens=False)])
        starts, ends, trusted = byte_offsets_from_ids(self._byte_table, ids, lengths, texts)
        redo = np.flatnonzero(~trusted)
        exact = self.encode_with_offsets([texts[i] for i in redo]) if redo.size else None
        return _with_exact_offsets(ids, lengths, starts, ends, redo, exact)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "class": type(self.hf_tokenizer).__name__
                if self.hf_tokenizer is not None else "tokenizers.Tokenizer", "vocab_size": self.vocab_size,
                "byte_fallback_detection": self.byte_fallback_method}


class SentencePieceSource:
    kind = "sentencepiece"

    def __init__(self, name: str, path: Path):
        import sentencepiece as spm

        try:
            self.processor = spm.SentencePieceProcessor(model_file=str(path))
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            raise VepoError(f"'{path}' is not a SentencePiece model ({str(exc).splitlines()[0] if str(exc) else exc}); "
                            f"pass a .model file, a tokenizer.json, a tokenizer directory or an HF id") from None
        self.name = name
        self.path = path
        sp = self.processor
        self.vocab_size = sp.get_piece_size()
        self.unk_id = sp.unk_id() if sp.unk_id() >= 0 else None
        self.byte_mask = np.fromiter((sp.is_byte(i) for i in range(self.vocab_size)), dtype=bool,
                                     count=self.vocab_size)
        self.byte_fallback_method = BYTE_PIECES if self.byte_mask.any() else NO_BYTE_TOKENS
        self._pieces = PieceTable.of(sp)

    def encode_with_offset_mapping(self, texts: list[str]) -> Encoded:
        """sentencepiece's own offsets (exact, slow: Python objects per token)."""
        out = self.processor.encode(texts, return_type="offset_mapping", num_threads=_threads())
        return _flatten([r["ids"] for r in out], [r["offsets"] for r in out])

    def encode(self, texts: list[str]) -> Encoded:
        """Ids as numpy arrays, offsets derived from them (sp_offsets); texts where that is not exact get the
        processor's offset mapping. No BOS/EOS: the processor adds them only when asked to."""
        arrays = self.processor.encode(texts, return_type="numpy", num_threads=_threads())
        lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
        ids = np.concatenate(arrays).astype(np.int64) if arrays else np.zeros(0, dtype=np.int64)
        starts, ends, trusted = offsets_from_ids(self._pieces, ids, lengths, texts)
        # Derived offsets are exact only where the normaliser changed nothing but spaces (and the dummy prefix).
        normalized = self.processor.normalize(texts)
        unchanged = np.fromiter((norm.lstrip(_SPACE_MARK) == text.replace(" ", _SPACE_MARK).lstrip(_SPACE_MARK)
                                 and len(norm) - len(text) in (0, 1) for norm, text in zip(normalized, texts)),
                                dtype=bool, count=len(texts))
        redo = np.flatnonzero(~(trusted & unchanged))
        exact = self.encode_with_offset_mapping([texts[i] for i in redo]) if redo.size else None
        return _with_exact_offsets(ids, lengths, starts, ends, redo, exact)

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "path": str(self.path), "vocab_size": self.vocab_size,
                "byte_fallback_detection": self.byte_fallback_method}


TokenizerSource = HFTokenizerSource | SentencePieceSource


def _looks_local(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or spec.count("/") != 1


def _declared_slow_class(spec: str) -> str | None:
    """The tokenizer class a local tokenizer_config.json names when that class has no fast version. (AutoTokenizer
    may silently build the model type's fast class from an empty vocabulary instead.)"""
    config = Path(spec).expanduser() / "tokenizer_config.json"
    if not config.is_file():
        return None
    try:
        declared = json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    if not isinstance(declared, str):
        return None
    import transformers
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    cls = getattr(transformers, declared, None) or getattr(transformers, declared.removesuffix("Fast"), None)
    return declared if isinstance(cls, type) and not issubclass(cls, TokenizersBackend) else None


def _no_fast_version(spec: str, class_name: str) -> VepoError:
    return VepoError(f"tokenizer '{spec}' ({class_name}) has no fast version; vepo needs a tokenizers-backed "
                     f"tokenizer (a tokenizer.json, or a SentencePiece .model file)")


def load_hf_tokenizer(spec: str, trust_remote_code: bool = False):
    """AutoTokenizer for an HF id or a directory; a tokenizer without a fast version is a user error."""
    from transformers import AutoTokenizer

    declared = _declared_slow_class(spec)
    if declared:
        raise _no_fast_version(spec, declared)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(spec), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VepoError(f"cannot load a tokenizer from '{spec}': {first}") from None
    if not tokenizer.is_fast:
        raise _no_fast_version(spec, type(tokenizer).__name__)
    return tokenizer


def load_tokenizer_source(spec: str, trust_remote_code: bool = False) -> TokenizerSource:
    """Open what `spec` names: a SentencePiece model file, a tokenizer.json, a directory or an HF id."""
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix == ".json":
            from tokenizers import Tokenizer

            try:
                return HFTokenizerSource(spec, Tokenizer.from_file(str(path)))
            except Exception as exc:  # tokenizers raises a bare Exception for malformed files
                raise VepoError(f"'{path}' is not a tokenizers JSON file ({str(exc).splitlines()[0]})") from None
        return SentencePieceSource(spec, path)
    if not path.exists() and _looks_local(spec):
        raise VepoError(f"tokenizer '{spec}' not found: pass an HF id (org/name), a tokenizer or checkpoint "
                        f"directory, a tokenizer.json or a SentencePiece .model file")
    tokenizer = load_hf_tokenizer(str(path) if path.exists() else spec, trust_remote_code)
    return HFTokenizerSource(spec, tokenizer.backend_tokenizer, tokenizer.unk_token_id, hf_tokenizer=tokenizer)
