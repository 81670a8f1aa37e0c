"""Literal-fidelity rewards: sentence chrF++ and sentence BLEU (sacrebleu), scaled to [0, 1]."""

from __future__ import annotations

from typing import ClassVar

from sacrebleu.metrics import BLEU, CHRF

from vepo.errors import VepoError
from vepo.rewards.base import Item, RewardComponent


class ChrfComponent(RewardComponent):
    """Sentence chrF++: ``CHRF(word_order=2).sentence_score(hyp, [ref]).score / 100``."""

    name: ClassVar[str] = "chrf"

    def __init__(self, word_order: int = 2) -> None:
        super().__init__()
        self.metric = CHRF(word_order=word_order)

    def _score_one(self, item: Item) -> float:
        return self.metric.sentence_score(item.hypothesis, [item.reference]).score / 100.0


class BleuComponent(RewardComponent):
    """Sentence BLEU with effective order: ``BLEU(effective_order=True, tokenize=...).sentence_score(h, [r]) / 100``.

    ``tokenize`` is sacrebleu's tokenizer name ('13a' default; 'flores200' = spBLEU needs sacrebleu's SentencePiece
    model under $SACREBLEU/models, which it downloads when missing: offline without it construction fails with a
    VepoError; 'zh' / 'char' work offline for unspaced scripts).
    """

    name: ClassVar[str] = "bleu"

    def __init__(self, tokenize: str = "13a") -> None:
        super().__init__()
        known = sorted(BLEU.TOKENIZERS)
        if tokenize not in known:
            raise VepoError(f"reward bleu: unknown sacrebleu tokenizer '{tokenize}'; available: {', '.join(known)}")
        try:
            self.metric = BLEU(effective_order=True, tokenize=tokenize)
        except Exception as e:  # e.g. the SentencePiece model of 'flores200'/'spm' cannot be fetched offline
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise VepoError(f"reward bleu: cannot create sacrebleu BLEU(tokenize='{tokenize}'): {first}; use "
                            "tokenize='13a', 'zh' or 'char' offline") from e
        self.tokenize = tokenize

    def _score_one(self, item: Item) -> float:
        return self.metric.sentence_score(item.hypothesis, [item.reference]).score / 100.0
