"""Evaluate one translation direction of a FLORES-layout directory: generate, score, return a result record."""

from __future__ import annotations

import time
from pathlib import Path

from vepo.config.schema import EvalSettings, LangConfig
from vepo.data.flores import open_flores
from vepo.data.prompts import make_prompt
from vepo.evaluation.generation import generate_translations
from vepo.evaluation.scoring import corpus_chrf


def evaluate_direction(model, tokenizer, flores_dir: str | Path, lang: LangConfig, settings: EvalSettings,
                       dataset: str = "toy") -> dict:
    sources, references = open_flores(flores_dir).read_pair(settings.split, lang.src, lang.tgt)
    if settings.max_segments is not None:
        sources, references = sources[: settings.max_segments], references[: settings.max_segments]
    prompts = [make_prompt(s, lang.src_name, lang.tgt_name) for s in sources]
    start = time.perf_counter()
    hypotheses = generate_translations(model, tokenizer, prompts, settings.batch_size, settings.max_new_tokens,
                                       description=f"{lang.src}-{lang.tgt}")
    seconds = time.perf_counter() - start
    chrf = corpus_chrf(hypotheses, references)
    return {
        "direction": f"{lang.src}-{lang.tgt}",
        "src": lang.src,
        "tgt": lang.tgt,
        "dataset": dataset,
        "split": settings.split,
        "n_segments": len(sources),
        "generation_seconds": round(seconds, 3),
        "metrics": {"chrf++": {"score": chrf["score"], "signature": chrf["signature"]}},
        "segments": {"chrf++": chrf["segments"]},
        "hypotheses": hypotheses,
    }
