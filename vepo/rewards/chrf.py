"""Sentence-level chrF++ reward (sacrebleu), scaled to [0, 1]."""

from __future__ import annotations

from sacrebleu.metrics import CHRF

from vepo.data.prompts import clean_hypothesis


class ChrfReward:
    """TRL reward function: gets the completions and the dataset's `ref` column, returns one float per completion."""

    __name__ = "chrf"  # TRL names the logged reward column after this

    def __init__(self) -> None:
        self.metric = CHRF(word_order=2)  # chrF++

    def score(self, hypothesis: str, reference: str) -> float:
        return self.metric.sentence_score(hypothesis, [reference]).score / 100.0

    def __call__(self, prompts, completions, ref, **kwargs) -> list[float]:
        return [self.score(clean_hypothesis(c), r) for c, r in zip(completions, ref)]
