"""Which pieces to add: train a subword model on target-language text, keep the pieces the base tokenizer splits
into the most tokens where they occur.

A piece's value is the number of tokens it saves on the training text: count × (base tokens − 1), where count is how
often the subword model uses the piece on that text and base tokens is the base tokenizer's segmentation of its text.
Pieces keep a leading space as a real space (SentencePiece's "▁"), so the added token matches the raw text.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from dataclasses import dataclass
from itertools import chain

from vepo.errors import VepoError

SUBWORD_KINDS = ("unigram", "bpe")
_SPACE_MARK = "\u2581"  # SentencePiece's "▁"


@dataclass(frozen=True)
class NewPiece:
    content: str  # the text the added token matches
    count: int  # uses by the subword model on the training text
    base_ids: tuple[int, ...]  # the base tokenizer's segmentation of `content`

    @property
    def saving(self) -> int:
        return self.count * (len(self.base_ids) - 1)


def default_train_vocab_size(lines: list[str], added_tokens: int) -> int:
    """Room for every character plus twice the pieces asked for: some pieces are already single base tokens."""
    return len(set(chain.from_iterable(lines))) + 2 * added_tokens + 8


def _train_unigram(lines: list[str], vocab_size: int, seed: int) -> Counter:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=model, model_type="unigram", vocab_size=vocab_size,
            hard_vocab_limit=False,  # a small corpus yields fewer pieces instead of failing
            character_coverage=1.0, normalization_rule_name="identity",  # pieces are raw substrings of the text
            add_dummy_prefix=False, remove_extra_whitespaces=False,  # no space invented at the start of a line
            bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0, max_sentence_length=1 << 16,
            num_threads=max(1, min(4, os.cpu_count() or 1)), minloglevel=2,
        )
    except RuntimeError as exc:
        raise VepoError(f"SentencePiece could not train on the corpus: {str(exc).splitlines()[0]} "
                        f"(train_vocab_size={vocab_size}); adjust train_vocab_size or give more text") from None
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    return Counter(chain.from_iterable(processor.encode(lines, out_type=str)))


def _train_bpe(lines: list[str], vocab_size: int, min_count: int) -> Counter:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_SPACE_MARK, prepend_scheme="never")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_count, show_progress=False)
    tokenizer.train_from_iterator(lines, trainer=trainer)
    return Counter(chain.from_iterable(e.tokens for e in tokenizer.encode_batch(lines)))


def piece_counts(lines: list[str], kind: str, vocab_size: int, min_count: int, seed: int) -> Counter:
    """How often each piece of a subword model trained on `lines` occurs in its own segmentation of them."""
    if kind == "unigram":
        return _train_unigram(lines, vocab_size, seed)
    if kind == "bpe":
        return _train_bpe(lines, vocab_size, min_count)
    raise VepoError(f"subword='{kind}' is not supported; use one of {', '.join(SUBWORD_KINDS)}")


def _content(piece: str) -> str | None:
    """The raw text of a piece, or None when it is not worth a token (only spaces, or spaces inside it)."""
    text = piece.replace(_SPACE_MARK, " ")
    body = text[1:] if text.startswith(" ") else text
    if not body or any(ch.isspace() for ch in body):
        return None
    return text


def select_new_pieces(counts: Counter, base_tokenizer, n: int, min_count: int) -> list[NewPiece]:
    """The `n` pieces that save the most base tokens; VepoError when the corpus supports fewer."""
    contents: dict[str, int] = {}
    for piece, count in counts.items():
        text = _content(piece)
        if text is not None and count >= min_count:
            contents[text] = contents.get(text, 0) + count
    texts = sorted(contents)
    segmentations = base_tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    candidates = [NewPiece(t, contents[t], tuple(ids)) for t, ids in zip(texts, segmentations) if len(ids) > 1]
    candidates.sort(key=lambda p: (-p.saving, -len(p.content), p.content))
    if len(candidates) < n:
        raise VepoError(f"added_tokens={n} but the corpus supports only {len(candidates)} new pieces (pieces used "
                        f">= min_count={min_count} times that the base tokenizer splits); lower added_tokens or "
                        f"min_count, or give more text")
    return candidates[:n]
