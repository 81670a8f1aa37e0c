"""Paired significance against the baseline, one direction at a time.

chrF++ and BLEU: sacrebleu's PairedTest (paired bootstrap resampling, `bs`), rebuilt from each score's signature
so the test uses the exact metric the score was computed with. COMET: the same paired bootstrap over the stored
segment scores (COMET's corpus score is their mean), written here with numpy. Both use n resamples and a fixed seed.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import numpy as np
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric
from sacrebleu.significance import PairedTest

from vepo.reporting.checks import parse_signature

if TYPE_CHECKING:
    from vepo.reporting.results import DirectionResult

_SPM_TOKENIZERS = {"flores200": "flores200sacrebleuspm", "flores101": "sacrebleu_tokenizer_spm.model",
                   "spBLEU-1K": "spbleu-1k_tokenizer_spm.model"}


@contextmanager
def sacrebleu_seed(seed: int) -> Iterator[None]:
    """PairedTest reads its seed from $SACREBLEU_SEED when constructed: set it for the call, then restore it."""
    saved = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SACREBLEU_SEED", None)
        else:
            os.environ["SACREBLEU_SEED"] = saved


def chrf_from_signature(signature: str) -> CHRF:
    sig = parse_signature(signature)
    return CHRF(char_order=int(sig.get("nc", 6)), word_order=int(sig.get("nw", 2)),
                lowercase=sig.get("case") == "lc", whitespace=sig.get("space") == "yes",
                eps_smoothing=sig.get("eff") == "no")


def _spm_missing(tokenizer: str) -> Optional[str]:
    """The SentencePiece model file a BLEU tokenizer needs, when it is not on disk (sacrebleu would download it)."""
    if tokenizer not in _SPM_TOKENIZERS:
        return None
    from sacrebleu.utils import SACREBLEU_DIR

    path = Path(SACREBLEU_DIR) / "models" / _SPM_TOKENIZERS[tokenizer]
    return None if path.is_file() else str(path)


def bleu_from_signature(signature: str) -> BLEU:
    """BLEU with the signature's tokenizer, smoothing and casing; raises FileNotFoundError when the tokenizer's
    SentencePiece model is not available offline."""
    sig = parse_signature(signature)
    tokenizer = sig.get("tok", "flores200")
    missing = _spm_missing(tokenizer)
    if missing:
        raise FileNotFoundError(missing)
    method, _, value = sig.get("smooth", "exp").partition("[")
    smooth_value = float(value.rstrip("]")) if value else None
    return BLEU(tokenize=tokenizer, lowercase=sig.get("case") == "lc", smooth_method=method,
                smooth_value=smooth_value, effective_order=sig.get("eff") == "yes")


def metric_from_signature(name: str, signature: str) -> Metric:
    return chrf_from_signature(signature) if name == "chrf++" else bleu_from_signature(signature)


def paired_test(metric: Metric, baseline: list[str], systems: dict[str, list[str]], references: list[str],
                n_samples: int, seed: int) -> tuple[float, dict[str, tuple[float, float]]]:
    """sacrebleu's paired bootstrap: (baseline score, {system: (score, p-value)}), scores recomputed from the
    hypotheses."""
    named = [("__baseline__", baseline), *systems.items()]
    logger = logging.getLogger("sacrebleu")
    level = logger.level
    logger.setLevel(logging.WARNING)  # PairedTest logs every step at INFO, which Hydra's logging would print
    try:
        with sacrebleu_seed(seed):
            test = PairedTest(named, {"metric": metric}, [references], test_type="bs", n_samples=n_samples)
            _, scores = test()
    finally:
        logger.setLevel(level)
    (results,) = [v for k, v in scores.items() if k != "System"]
    return results[0].score, {name: (res.score, res.p_value) for (name, _), res in zip(named[1:], results[1:])}


IDENTICAL_NOTE = ("a system that scores exactly the baseline's score gets p = 1 (the bootstrap statistic is "
                  "degenerate there: sacrebleu's PairedTest would return 1/(n+1))")


def paired_bootstrap_segments(baseline: list[float], system: list[float], n_samples: int, seed: int) -> float:
    """p-value of the paired bootstrap on mean segment scores, computed like sacrebleu's `bs` test: resample the
    same segment indices for both systems, centre the resampled absolute differences, count those above the
    observed one (+1 smoothing). Equal means give p = 1 (IDENTICAL_NOTE)."""
    base, sys_ = np.asarray(baseline, dtype=float), np.asarray(system, dtype=float)
    if base.shape != sys_.shape or base.size == 0:
        raise ValueError("paired bootstrap needs two non-empty score lists of equal length")
    rng = np.random.default_rng(seed)
    idxs = rng.choice(base.size, size=(n_samples, base.size), replace=True)
    diffs = np.abs(sys_[idxs].mean(axis=1) - base[idxs].mean(axis=1))
    observed = abs(sys_.mean() - base.mean())
    if observed == 0:
        return 1.0  # see IDENTICAL_NOTE
    count = int(np.sum(diffs - diffs.mean() > observed))
    return (count + 1) / (n_samples + 1)


def direction_pvalues(metric: str, base: "DirectionResult", others: dict[str, "DirectionResult"], n_samples: int,
                      seed: int) -> tuple[dict[str, float], list[str]]:
    """p-values of every system against the baseline on one direction, and notes on what could not be tested."""
    notes: list[str] = []
    pvalues: dict[str, float] = {}
    if metric == "comet":
        base_segments = base.segments.get("comet")
        for label, result in others.items():
            segments = result.segments.get("comet")
            if not base_segments or not segments or len(segments) != len(base_segments):
                notes.append(f"comet: no segment scores to test {label} on {base.direction}")
                continue
            pvalues[label] = paired_bootstrap_segments(base_segments, segments, n_samples, seed)
            if sum(segments) == sum(base_segments):
                notes.append(IDENTICAL_NOTE)
        return pvalues, notes
    references = base.references or next((r.references for r in others.values() if r.references), None)
    if references is None:
        return {}, [f"{metric}: no references for {base.direction}; significance not tested there"]
    try:
        scorer = metric_from_signature(metric, base.metrics[metric].signature)
    except FileNotFoundError as exc:
        return {}, [f"{metric}: significance not tested (the tokenizer's SentencePiece model is not on disk at "
                    f"{exc}; vepo stays offline)"]
    base_score, tested = paired_test(scorer, base.hypotheses, {label: r.hypotheses for label, r in others.items()},
                                     references, n_samples, seed)
    for label, (score, p) in tested.items():
        pvalues[label] = 1.0 if score == base_score else p
        if score == base_score:
            notes.append(IDENTICAL_NOTE)
        recorded = others[label].metrics[metric].score
        if abs(score - recorded) > 0.01:
            notes.append(f"WARNING: {metric} of {label} on {base.direction}: the file says {recorded:.2f} but its "
                         f"hypotheses score {score:.2f}")
    return pvalues, notes
