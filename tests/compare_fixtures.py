"""Hand-made result files for the `vepo compare` tests: real sacrebleu scores of synthetic hypotheses."""

from __future__ import annotations

import json
import random
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

WORDS = "the cat sat on a mat dog ran far away quickly under red tree house river stone".split()


def references(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(5, 10))) for _ in range(n)]


def noisy(refs: list[str], error_rate: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(w if rng.random() > error_rate else rng.choice(WORDS) for w in r.split()) for r in refs]


def result_record(src: str, tgt: str, hyps: list[str], refs: list[str], *, dataset=None, bleu_tok: str | None = "13a",
                  comet: list[float] | None = None, comet_flagged: bool = False, chrf: CHRF | None = None,
                  with_references: bool = True) -> dict:
    """A result file in the evaluation schema, scored with real sacrebleu (BLEU with a tokenizer that needs no
    download stands in for spBLEU)."""
    chrf = chrf or CHRF(word_order=2)
    score = chrf.corpus_score(hyps, [refs])
    metrics = {"chrf++": {"score": round(score.score, 4), "signature": str(chrf.get_signature())}}
    segments = {"chrf++": [chrf.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]}
    if bleu_tok:
        bleu = BLEU(tokenize=bleu_tok)
        metrics["spbleu"] = {"score": round(bleu.corpus_score(hyps, [refs]).score, 4),
                             "signature": str(bleu.get_signature())}
    if comet is not None:
        metrics["comet"] = {"score": 100 * sum(comet) / len(comet), "signature": "comet:Unbabel/wmt22-comet-da",
                            "flagged": comet_flagged}
        segments["comet"] = list(comet)
    record = {
        "direction": f"{src}-{tgt}", "src": src, "tgt": tgt, "split": "devtest", "n_segments": len(hyps),
        "dataset": dataset if dataset is not None else {"name": "toy", "version": "1", "layout": "flores200",
                                                        "root": "/nonexistent"},
        "model": "hand-made", "engine": "hf", "metrics": metrics, "segments": segments, "hypotheses": hyps,
        "sources": [f"src {i}" for i in range(len(hyps))], "notes": [], "provenance": {"vepo_version": "test"},
    }
    if with_references:
        record["references"] = refs
    return record


def write_eval_dir(root: Path, records: list[dict], overrides: list[str] | None = None,
                   config: dict | None = None) -> Path:
    """An eval output directory: results/<src>-<tgt>.json plus Hydra's overrides/config when given."""
    for record in records:
        path = root / "results" / f"{record['direction']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record), encoding="utf-8")
    if overrides is not None or config is not None:
        (root / ".hydra").mkdir(parents=True, exist_ok=True)
        (root / ".hydra" / "overrides.yaml").write_text(
            "".join(f"- {o}\n" for o in overrides or []), encoding="utf-8")
        if config is not None:
            import yaml

            (root / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def bucket_stats(bucketing: str, quintiles: dict[int, tuple[float, float | None, float | None]]) -> dict:
    """diag/<bucketing>_q{k}/… keys from {k: (token_share, clip_frac, grad_share)}; None leaves a key out, as
    training does for a bucket without tokens."""
    out = {}
    for q, (tokens, clip, grad) in quintiles.items():
        out[f"diag/{bucketing}_q{q}/token_share"] = tokens
        if clip is not None:
            out[f"diag/{bucketing}_q{q}/clip_frac"] = clip
        if grad is not None:
            out[f"diag/{bucketing}_q{q}/grad_share"] = grad
    return out


def diag_step(step: int, *, kl_old: float, clip_frac: float, ratio_mean: float, rollout_step: int = 1,
              entropy_q5: tuple[float, float | None, float | None] = (0.2, 0.0, 0.2),
              rarity_q5: tuple[float, float | None, float | None] = (0.05, 0.0, 0.05)) -> dict:
    """One RL step of metrics.jsonl with the diagnostics keys; q1..q4 get plain values, q5 the given ones."""
    plain = {q: (0.2, 0.1 * q * (rollout_step > 0), 0.2) for q in range(1, 5)}
    return {"step": step, "stage": "rl", "clip_frac": clip_frac, "objective/ratio_mean": ratio_mean,
            "diag/kl_old": kl_old, "diag/rollout_step": rollout_step, "entropy_mean": 0.5 + 0.01 * step,
            **bucket_stats("entropy", {**plain, 5: entropy_q5}), **bucket_stats("rarity", {**plain, 5: rarity_q5})}


def on_policy_step(step: int) -> dict:
    """What training logs on a step that samples fresh rollouts: nothing clipped, ratio 1, a KL to π_old that is
    only rounding noise (as bf16 log-prob passes give): the step is told apart by diag/rollout_step = 0."""
    return diag_step(step, kl_old=1e-9, clip_frac=0.0, ratio_mean=1.0, rollout_step=0, entropy_q5=(0.2, 0.0, 0.5),
                     rarity_q5=(0.05, 0.0, 0.5))


def write_train_run(root: Path, record: dict, overrides: list[str], metrics: list[dict]) -> Path:
    """A training run: its stage evaluation results/rl.json, Hydra's overrides and metrics.jsonl."""
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "rl.json").write_text(json.dumps(record), encoding="utf-8")
    (root / ".hydra").mkdir(exist_ok=True)
    (root / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides), encoding="utf-8")
    (root / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in metrics), encoding="utf-8")
    return root
