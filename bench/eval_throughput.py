"""End-to-end `vepo eval` throughput: segments per second for a default90-sized job, length-sorted waves across
directions (vepo's default) vs the naive baseline (one direction at a time, segments in file order), and the
generation engines on the same job: `eval.engine=hf` (model.generate), `static` (vepo's static-cache generator) and
`vllm` when it can be imported, each with length-sorted waves.

The job: the default90 suite on a synthetic FLORES directory (46 languages x 1012 lines; sentences of FLORES-like
length drawn from the toy corpus and transliterated into each language's script), generation up to
--max-new-tokens, scoring included. The model has random weights: `--shape qwen2.5-0.5b` (hidden 896, 24 layers, 14
heads, 2 KV heads, intermediate 4864, vocabulary 151,936, bf16) on a GPU, `--shape tiny` for developers' CPUs. Its
tokenizer is a byte-level BPE trained on the synthetic text; ids beyond it decode to nothing (they are not
suppressed: the static engine and vLLM do not read generation_config.suppress_tokens, so every engine samples from the
same distribution). Random weights rarely emit EOS, so nearly every segment generates the full budget: the comparison
isolates batching and the engine.

Usage: uv run python bench/eval_throughput.py [--shape tiny|qwen2.5-0.5b] [--device cpu|cuda] [--lines 1012]
       [--directions 90] [--max-new-tokens 128] [--batch-size 256] [--engines hf,static[,vllm]] [--rounds 1]
       [--threads N]
Writes bench/results/eval_throughput_<device>.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

import vepo
from vepo.config.schema import EvalSettings, ModelConfig, PromptConfig, TinyModelConfig
from vepo.data.flores import open_flores
from vepo.data.toy import build_toy_corpus
from vepo.evaluation.runner import EvalContext, run_translation_suite
from vepo.evaluation.suites import expand_suite, load_suite
from vepo.models.tiny import build_and_save_tiny

SHAPES = {
    "tiny": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1024),
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936),
}
# A letter range per script, so every synthetic language is written in its own script (token counts differ).
SCRIPT_BASE = {"Latn": 0x61, "Cyrl": 0x430, "Arab": 0x627, "Tibt": 0xF40, "Hans": 0x4E00, "Deva": 0x915,
               "Sinh": 0xD9A, "Beng": 0x995, "Orya": 0xB15, "Mymr": 0x1000, "Khmr": 0x1780, "Laoo": 0xE81,
               "Ethi": 0x1200, "Armn": 0x561, "Geor": 0x10D0, "Hebr": 0x5D0}


def _script_text(text: str, script: str) -> str:
    base = SCRIPT_BASE.get(script, 0x61)
    return "".join(chr(base + (ord(c) - 0x61) % 26) if c.isalpha() else c for c in text.lower())


def write_synthetic_flores(root: Path, codes: list[str], lines: int, seed: int = 0) -> None:
    corpus = build_toy_corpus(seed=seed, n_train=4 * lines, n_dev=1, n_devtest=1)
    rng = random.Random(seed)
    sources = [s for s, _ in corpus.train]
    # FLORES sentences run ~20-40 words: join 2-5 toy sentences.
    english = [" ".join(rng.sample(sources, rng.randint(2, 5))) for _ in range(lines)]
    (root / "devtest").mkdir(parents=True, exist_ok=True)
    for code in codes:
        text = english if code == "eng_Latn" else [_script_text(s, code.split("_")[1]) for s in english]
        (root / "devtest" / f"{code}.devtest").write_text("".join(t + "\n" for t in text), encoding="utf-8")


def build_model(root: Path, shape: str, out: Path, dtype: torch.dtype) -> Path:
    ds = open_flores(root)
    texts = [x for code in ds.codes("devtest")[:12] for x in ds.read("devtest", code)[:200]]
    dims = SHAPES[shape]
    cfg = TinyModelConfig(vocab_size=min(dims["vocab_size"], 4096), max_position_embeddings=1024,
                          **{k: v for k, v in dims.items() if k != "vocab_size"})
    path = build_and_save_tiny(texts, cfg, out, seed=0)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    if dims["vocab_size"] > model.config.vocab_size:  # the real model's vocabulary size: its lm_head cost
        model.resize_token_embeddings(dims["vocab_size"])
    model.to(dtype).save_pretrained(path)
    return path


def run_mode(model: Path, root: Path, out: Path, directions, length_sorted: bool, args, engine: str = "hf") -> dict:
    settings = EvalSettings(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, spbleu=False,
                            length_sorted=length_sorted, wave_segments=args.wave_segments, engine=engine)
    ctx = EvalContext(open_flores(root), settings, out, str(model), {})
    start = time.perf_counter()
    summary = run_translation_suite(directions, ctx, "bench", model_path=str(model),
                                    model_cfg=ModelConfig(dtype=args.dtype), prompt_cfg=PromptConfig(template="plain"),
                                    device=args.device)
    seconds = time.perf_counter() - start
    segments = summary["throughput"]["segments_generated"]
    return {"engine": engine, "length_sorted": length_sorted, "segments": segments, "seconds": round(seconds, 2),
            "segments_per_second": round(segments / seconds, 2),
            "new_tokens_per_second": round(summary["throughput"]["new_tokens"] / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=SHAPES, default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--lines", type=int, default=1012)
    parser.add_argument("--directions", type=int, default=90)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--wave-segments", type=int, default=16384)
    parser.add_argument("--engines", default=None,
                        help="comma-separated eval engines, each run with length-sorted waves (default: hf,static, "
                             "and vllm on cuda when it can be imported)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every run; the median run is reported")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's); 1 is steadier on a shared CPU")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    engines = args.engines.split(",") if args.engines else default_engines(args.device)
    if "hf" not in engines:
        engines.insert(0, "hf")  # the baseline of the engine ratios and of the batching comparison
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    directions = expand_suite(load_suite("default90"))[: args.directions]
    codes = sorted({c for d in directions for c in (d.src, d.tgt)})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_synthetic_flores(tmp / "flores", codes, args.lines)
        model = build_model(tmp / "flores", args.shape, tmp / "model", getattr(torch, args.dtype))
        # Each round: every engine with length-sorted waves and hf per direction (the batching baseline), in an
        # order rotated by one each round, so a slow spell of a shared machine does not always hit the same run.
        jobs = [(e, True) for e in engines] + [("hf", False)]
        runs: dict[tuple[str, bool], list[dict]] = {job: [] for job in jobs}
        for rnd in range(args.rounds):
            for engine, length_sorted in jobs[rnd % len(jobs):] + jobs[:rnd % len(jobs)]:
                out = tmp / f"out_{engine}_{'sorted' if length_sorted else 'naive'}_{rnd}"
                runs[(engine, length_sorted)].append(
                    run_mode(model, tmp / "flores", out, directions, length_sorted, args, engine))
    median = {job: median_run(r) for job, r in runs.items()}
    by_engine = {e: median[(e, True)] for e in engines}
    naive = median[("hf", False)]
    rows = [by_engine["hf"], naive]
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu-{platform.machine()}"
    speedup = rows[0]["segments_per_second"] / rows[1]["segments_per_second"]
    hf_rate = by_engine["hf"]["segments_per_second"]
    engine_speedups = {f"speedup_{e}_vs_hf": round(r["segments_per_second"] / hf_rate, 2)
                       for e, r in by_engine.items() if e != "hf"}
    result = {"device": device, "threads": torch.get_num_threads(), "shape": args.shape, "dtype": args.dtype,
              "directions": len(directions), "lines": args.lines, "segments": len(directions) * args.lines,
              "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "rounds": args.rounds,
              "modes": rows, "speedup_length_sorted": round(speedup, 2),
              "engines": list(by_engine.values()), **engine_speedups,
              "segments_per_second_by_engine": {e: r["segments_per_second"] for e, r in by_engine.items()},
              "versions": {"vepo": vepo.__version__, "torch": torch.__version__,
                           "transformers": __import__("transformers").__version__},
              "date": dt.date.today().isoformat()}
    table = Table(title=f"eval throughput · {args.shape} · {device}")
    for col in ("engine", "batching", "segments", "seconds", "segments/s", "new tokens/s", "x hf"):
        table.add_column(col, justify="right")
    for r in [*by_engine.values(), naive]:
        table.add_row(r["engine"], "length-sorted waves" if r["length_sorted"] else "per direction, file order",
                      str(r["segments"]), f"{r['seconds']:.1f}", f"{r['segments_per_second']:.1f}",
                      f"{r['new_tokens_per_second']:.0f}", f"{r['segments_per_second'] / hf_rate:.2f}")
    Console().print(table)
    Console().print(f"speed-up of length-sorted waves (hf): {speedup:.2f}x")
    for key, value in engine_speedups.items():
        Console().print(f"{key}: {value:.2f}x")
    name = device.replace(" ", "-").lower()
    out = Path(__file__).parent / "results" / f"eval_throughput_{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (the lower middle one of an even count), with every round's seconds."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "rounds_seconds": [r["seconds"] for r in runs]}


def default_engines(device: str) -> list[str]:
    engines = ["hf", "static"]
    if not device.startswith("cuda"):  # vLLM's engine runs on the GPU
        return engines
    try:
        import vllm  # noqa: F401
    except ImportError:
        return engines
    return [*engines, "vllm"]


if __name__ == "__main__":
    main()
