"""Corpus-level scores with their sacrebleu signatures."""

from __future__ import annotations

from sacrebleu.metrics import CHRF


def corpus_chrf(hypotheses: list[str], references: list[str]) -> dict:
    """chrF++ (word_order=2) over the corpus, with its signature and per-segment scores for significance tests."""
    metric = CHRF(word_order=2)
    score = metric.corpus_score(hypotheses, [references])
    segments = [metric.sentence_score(h, [r]).score for h, r in zip(hypotheses, references)]
    return {"score": round(score.score, 4), "signature": str(metric.get_signature()), "segments": segments}
