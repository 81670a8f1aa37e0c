"""Generation throughput: `model.generate` vs vepo's static-cache engine (vepo/models/static_generation.py).

The workload: the embedded tiny model (TinyModelConfig defaults, random weights) on toy translation prompts, a batch of
--batch left-padded prompts, --new-tokens new tokens, the same sampling settings for both (temperature 1, top-k 50,
top-p 0.95). Random weights rarely emit EOS; tokens/s counts the tokens each path actually generated. Median of
--repeats timed runs after one warm-up run each.

Usage: uv run python bench/static_generation.py [--device cpu|cuda] [--batch 64] [--new-tokens 32] [--repeats 5]
       [--compile]
Writes bench/results/static_generation_<cpu|cuda>.json and prints both figures.
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
import transformers

import vepo
from vepo.config.schema import TinyModelConfig
from vepo.data.prompts import make_prompt
from vepo.data.toy import build_toy_corpus
from vepo.models.static_generation import StaticCacheGenerator
from vepo.models.tiny import build_tiny_model, train_tokenizer

SAMPLING = dict(temperature=1.0, top_k=50, top_p=0.95)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: str, repeats: int) -> tuple[float, int]:
    fn()  # warm-up
    times, tokens = [], 0
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        tokens = fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    corpus = build_toy_corpus(seed=0, n_train=max(256, a.batch), n_dev=1, n_devtest=1)
    tok = train_tokenizer([s for s, _ in corpus.train] + [t for _, t in corpus.train], TinyModelConfig().vocab_size)
    model = build_tiny_model(TinyModelConfig(), tok, seed=0).to(a.device).eval()
    prompts = [make_prompt(s, "English", "Toy") for s, _ in corpus.train[: a.batch]]
    enc = tok(prompts, return_tensors="pt", padding=True).to(a.device)
    eos, pad = tok.eos_token_id, tok.pad_token_id

    def hf() -> int:
        torch.manual_seed(0)
        with torch.no_grad():
            out = model.generate(**enc, do_sample=True, max_new_tokens=a.new_tokens, eos_token_id=eos,
                                 pad_token_id=pad, **SAMPLING)
        return int((out[:, enc.input_ids.shape[1]:] != pad).sum())

    engine = StaticCacheGenerator(model, a.batch, enc.input_ids.shape[1], a.new_tokens, compile=a.compile)

    def ours() -> int:
        g = torch.Generator(device=a.device).manual_seed(0)
        out = engine.generate(enc.input_ids, enc.attention_mask, eos_token_id=eos, pad_token_id=pad, generator=g,
                              **SAMPLING)
        return int(out.completion_mask.sum())

    hf_s, hf_tokens = _timed(hf, a.device, a.repeats)
    ours_s, ours_tokens = _timed(ours, a.device, a.repeats)
    device_name = "cpu" if a.device == "cpu" else "cuda"
    result = {
        "benchmark": "static_generation",
        "device": torch.cuda.get_device_name() if a.device == "cuda" else f"cpu-{platform.machine()}",
        "threads": torch.get_num_threads(),
        "shape": {"model": "tiny (TinyModelConfig defaults, random weights)", "batch": a.batch,
                  "prompt_len": int(enc.input_ids.shape[1]), "max_new_tokens": a.new_tokens, **SAMPLING,
                  "compile": a.compile},
        "repeats": a.repeats,
        "hf_generate": {"median_s": hf_s, "tokens": hf_tokens, "tokens_per_s": hf_tokens / hf_s},
        "static_engine": {"median_s": ours_s, "tokens": ours_tokens, "tokens_per_s": ours_tokens / ours_s},
        "speedup": (ours_tokens / ours_s) / (hf_tokens / hf_s),
        "versions": {"vepo": vepo.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
        "date": dt.date.today().isoformat(),
    }
    out = Path(a.out or Path(__file__).parent / "results" / f"static_generation_{device_name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"model.generate: {result['hf_generate']['tokens_per_s']:.0f} tokens/s ({hf_s * 1e3:.0f} ms)")
    print(f"static engine:  {result['static_engine']['tokens_per_s']:.0f} tokens/s ({ours_s * 1e3:.0f} ms)")
    print(f"speedup {result['speedup']:.2f}x -> {out}")


if __name__ == "__main__":
    main()
