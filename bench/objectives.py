"""Forward+backward time of every objective relative to grpo, on the same batch (B=64, T=256, V=32k by default).

Two timings per objective:
- `with_logits`: the step an objective really costs in training: log-softmax of (B, T, V) logits, the sampled tokens'
  log-probs, entropies, (top-K variants) the top-K of the distribution, the loss, and backward to the logits.
- `loss_only`: the objective alone on per-token tensors (B, T) with a leaf `logp`, which magnifies its own overhead.

Usage: uv run python bench/objectives.py [--device cuda] [--batch 64 --length 256 --vocab 32000] [--repeats 5]
Writes bench/results/objectives_<device>.json and prints a table. Target (issue 3): with_logits ≤ 1.10× grpo.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

import vepo
from vepo.objectives import PolicyBatch, get_objective, list_objectives
from vepo.objectives.rarity import rarity_from_counts

TOP_K = 20


def make_inputs(B: int, T: int, V: int, device: str, seed: int = 0) -> dict:
    g = torch.Generator(device="cpu").manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g).mul_(2.0).to(device)
    token_ids = torch.randint(0, V, (B, T), generator=g).to(device)
    lengths = torch.randint(T // 4, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float().to(device)
    rewards = torch.rand(B, generator=g)
    adv = ((rewards - rewards.mean()) / (rewards.std() + 1e-4)).to(device)
    noise = (0.05 * torch.randn(B, T, generator=g)).to(device)
    counts = torch.randint(0, 1000, (V,), generator=g)
    return {"logits": logits, "token_ids": token_ids, "mask": mask, "adv": adv, "noise": noise,
            "rarity": rarity_from_counts(counts).to(device), "counts": counts.to(device)}


def build(name: str, V: int, T: int, inputs: dict):
    params = {}
    from vepo.objectives.registry import allowed_params
    allowed = allowed_params(name)
    if "max_completion_length" in allowed:
        params["max_completion_length"] = T
    if "vocab_size" in allowed:
        params["vocab_size"] = V
    obj = get_objective(name, **params)
    if hasattr(obj, "set_token_rarity"):
        obj.set_token_rarity(inputs["rarity"], inputs["counts"])
    return obj


def step_with_logits(obj, inputs: dict) -> None:
    logits = inputs["logits"].detach().requires_grad_(True)
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, inputs["token_ids"].unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():
        entropy = -(logp_all.exp() * logp_all).sum(-1)
    old = (logp.detach() + inputs["noise"])
    batch = PolicyBatch(logp=logp, old_logp=old, advantages=inputs["adv"], mask=inputs["mask"], entropy=entropy,
                        ref_logp=old, token_ids=inputs["token_ids"])
    if getattr(obj, "topk_k", None):
        with torch.no_grad():
            topk_logp, topk_ids = logp_all.detach().topk(obj.topk_k, dim=-1)
        batch.old_topk_logp, batch.old_topk_ids, batch.cur_topk_logp = topk_logp, topk_ids, topk_logp
    obj(batch).loss.backward()


def step_loss_only(obj, inputs: dict, cache: dict) -> None:
    if "logp" not in cache:
        with torch.no_grad():
            logp_all = torch.log_softmax(inputs["logits"], dim=-1)
            cache["logp"] = logp_all.gather(-1, inputs["token_ids"].unsqueeze(-1)).squeeze(-1)
            cache["entropy"] = -(logp_all.exp() * logp_all).sum(-1)
            cache["topk"] = logp_all.topk(TOP_K, dim=-1)
    logp = cache["logp"].clone().requires_grad_(True)
    old = cache["logp"] + inputs["noise"]
    batch = PolicyBatch(logp=logp, old_logp=old, advantages=inputs["adv"], mask=inputs["mask"],
                        entropy=cache["entropy"], ref_logp=old, token_ids=inputs["token_ids"])
    if getattr(obj, "topk_k", None):
        batch.old_topk_logp, batch.old_topk_ids = cache["topk"]
        batch.cur_topk_logp = batch.old_topk_logp
    obj(batch).loss.backward()


def timed(fn, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    inputs = make_inputs(a.batch, a.length, a.vocab, a.device)
    names = ["grpo"] + [n for n in list_objectives() if n != "grpo"]
    cache: dict = {}
    objectives = {name: build(name, a.vocab, a.length, inputs) for name in names}
    # Round-robin over objectives, so drift in machine load hits every objective alike; medians per objective.
    samples = {name: {"with_logits_s": [], "loss_only_s": []} for name in names}
    for rep in range(a.repeats + 1):  # repetition 0 warms up
        for name, obj in objectives.items():
            wl = timed(lambda: step_with_logits(obj, inputs), a.device)
            lo = statistics.median(timed(lambda: step_loss_only(obj, inputs, cache), a.device) for _ in range(5))
            if rep:
                samples[name]["with_logits_s"].append(wl)
                samples[name]["loss_only_s"].append(lo)
    rows = {name: {k: statistics.median(v) for k, v in s.items()} for name, s in samples.items()}
    base = rows["grpo"]
    for r in rows.values():
        r["with_logits_rel"] = r["with_logits_s"] / base["with_logits_s"]
        r["loss_only_rel"] = r["loss_only_s"] / base["loss_only_s"]
    device_name = torch.cuda.get_device_name() if a.device.startswith("cuda") else f"cpu-{platform.machine()}"
    result = {
        "benchmark": "objectives", "device": device_name, "threads": torch.get_num_threads(),
        "shape": {"B": a.batch, "T": a.length, "V": a.vocab, "top_k": TOP_K}, "repeats": a.repeats,
        "target": "with_logits_rel <= 1.10 for every objective",
        "meets_target": all(r["with_logits_rel"] <= 1.10 for r in rows.values()),
        "objectives": rows, "versions": {"vepo": vepo.__version__, "torch": torch.__version__},
        "date": dt.date.today().isoformat(),
    }
    out = Path(a.out or Path(__file__).parent / "results" / f"objectives_{device_name.replace(' ', '_')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title=f"objective forward+backward, B={a.batch} T={a.length} V={a.vocab} on {device_name}")
    for col in ("objective", "with logits (s)", "× grpo", "loss only (ms)", "× grpo"):
        table.add_column(col, justify="right")
    for name, r in rows.items():
        table.add_row(name, f"{r['with_logits_s']:.3f}", f"{r['with_logits_rel']:.3f}",
                      f"{1000 * r['loss_only_s']:.2f}", f"{r['loss_only_rel']:.2f}")
    Console().print(table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
