"""tokenize-stats speed on a whole FLORES-sized devtest: 204 languages × 1012 sentences, one tokenizer.

FLORES text is never committed, so the benchmark writes a synthetic FLORES-200 layout: every code of
vepo/data/languages.py gets 1012 sentences of realistic length (100–170 characters) in its own script, drawn from a
Zipf-distributed pseudo-word lexicon (syllables of a consonant and a vowel sign in abugidas, tsheg-joined syllables
in Tibetan, no spaces in Chinese, Japanese, Thai, Lao, Khmer and Myanmar); eng_Latn is real English words from the
toy grammar. The timed part is `run_tokenize_stats` itself (reading, tokenizing, segmenting, jieba, CSV/JSON/plot),
for each tokenizer on its own; the CLI's import time is reported separately.

Tokenizers: the SentencePiece model mistral-common ships (Mistral v1, 32k pieces, run by sentencepiece), Mistral's
Tekken (131k byte-level BPE, shipped by mistral-common, converted to a fast tokenizer by transformers' own converter:
the HF fast path with a real vocabulary), and the toy tiny model's byte-level BPE (~420 tokens: most text falls to
single bytes, the worst case for the number of tokens).

Usage: uv run python bench/tokenize_stats.py [--sentences 1012] [--cli]
Writes bench/results/tokenize_stats_<device>.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from itertools import accumulate
from pathlib import Path

from rich.console import Console
from rich.table import Table

import vepo
from vepo.data.languages import languages
from vepo.data.toy import build_toy_corpus
from vepo.models.tiny import train_tokenizer
from vepo.config.tokenization import FloresSourceConfig, TokenizeStatsConfig
from vepo.tokenization.tokenize_stats_command import run_tokenize_stats

MISTRAL_V1 = str(files("mistral_common") / "data" / "tokenizer.model.v1")
TEKKEN = str(files("mistral_common") / "data" / "tekken_240911.json")


def save_tekken(out: Path) -> Path:
    """Tekken as an HF fast tokenizer directory (transformers converts mistral-common's JSON itself)."""
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    TokenizersBackend(**TokenizersBackend.convert_to_native_format(vocab_file=TEKKEN)).save_pretrained(out)
    return out


def _span(a: int, b: int) -> list[str]:
    return [chr(c) for c in range(a, b + 1)]


# (consonants or letters, vowel signs or None): abugidas build syllables, alphabets build words from letters.
SCRIPTS = {
    "Latn": (list("abcdefghijklmnopqrstuvwyzéèàòùñçɛɔŋ"), None), "Cyrl": (_span(0x430, 0x44F), None),
    "Arab": (_span(0x627, 0x64A), None), "Grek": (_span(0x3B1, 0x3C9), None), "Armn": (_span(0x561, 0x586), None),
    "Geor": (_span(0x10D0, 0x10F0), None), "Hebr": (_span(0x5D0, 0x5EA), None), "Ethi": (_span(0x1200, 0x1357), None),
    "Hang": (_span(0xAC00, 0xAFFF), None), "Olck": (_span(0x1C5A, 0x1C7D), None), "Tfng": (_span(0x2D30, 0x2D67), None),
    "Deva": (_span(0x915, 0x939), _span(0x93E, 0x94C)), "Beng": (_span(0x995, 0x9B9), _span(0x9BE, 0x9CC)),
    "Guru": (_span(0xA15, 0xA39), _span(0xA3E, 0xA4C)), "Gujr": (_span(0xA95, 0xAB9), _span(0xABE, 0xACC)),
    "Orya": (_span(0xB15, 0xB39), _span(0xB3E, 0xB4C)), "Taml": (_span(0xB95, 0xBB9), _span(0xBBE, 0xBCC)),
    "Telu": (_span(0xC15, 0xC39), _span(0xC3E, 0xC4C)), "Knda": (_span(0xC95, 0xCB9), _span(0xCBE, 0xCCC)),
    "Mlym": (_span(0xD15, 0xD39), _span(0xD3E, 0xD4C)), "Sinh": (_span(0xD9A, 0xDC6), _span(0xDCF, 0xDDF)),
    "Thai": (_span(0xE01, 0xE2E), _span(0xE30, 0xE39)), "Laoo": (_span(0xE81, 0xEAE), _span(0xEB0, 0xEB9)),
    "Tibt": (_span(0xF40, 0xF6A), ["\u0f72", "\u0f74", "\u0f7a", "\u0f7c", "\u0fb1", "\u0fb2", ""]),
    "Mymr": (_span(0x1000, 0x102A), _span(0x102B, 0x103E)), "Khmr": (_span(0x1780, 0x17A2), _span(0x17B6, 0x17C5)),
    "Hans": (_span(0x4E00, 0x5DFF), None), "Hant": (_span(0x5E00, 0x6DFF), None),
    "Jpan": (_span(0x3041, 0x3093) * 4 + _span(0x4E00, 0x52FF), None),
}
NO_SPACES = {"Hans", "Hant", "Jpan", "Thai", "Laoo", "Khmr", "Mymr"}
FULL_STOP = {"Hans": "。", "Hant": "。", "Jpan": "。", "Tibt": "།", "Deva": "।", "Beng": "।", "Ethi": "።",
             "Mymr": "။", "Arab": ".", "Khmr": "។"}


def _word(rng: random.Random, script: str) -> str:
    letters, signs = SCRIPTS[script]
    if script in ("Hans", "Hant", "Jpan"):
        return "".join(rng.choice(letters) for _ in range(rng.choice((1, 2, 2, 3))))
    if script == "Tibt":  # tsheg-joined syllables
        return "\u0f0b".join(rng.choice(letters) + rng.choice(signs) for _ in range(rng.randint(1, 3)))
    if signs:
        return "".join(rng.choice(letters) + rng.choice(signs + [""]) for _ in range(rng.randint(1, 4)))
    return "".join(rng.choice(letters) for _ in range(max(1, int(rng.expovariate(1 / 5.5)))))


def synthetic_sentences(code: str, n: int, seed: int) -> list[str]:
    script = code.split("_")[1]
    rng = random.Random(f"{seed}-{code}")
    lexicon = [_word(rng, script) for _ in range(4000)]
    cum_weights = list(accumulate(1.0 / (rank + 1) for rank in range(len(lexicon))))  # Zipf
    joiner = "" if script in NO_SPACES else ("\u0f0b" if script == "Tibt" else " ")
    sentences = []
    for _ in range(n):
        target, words = rng.randint(100, 170), []
        while sum(map(len, words)) + len(words) < target:
            words += rng.choices(lexicon, cum_weights=cum_weights, k=4)
        # Scripts without word spaces still put a space between phrases now and then.
        text = joiner.join(words) if joiner else "".join(w + (" " if rng.random() < 0.08 else "") for w in words)
        sentences.append(text.strip() + FULL_STOP.get(script, "."))
    return sentences


def english_sentences(n: int) -> list[str]:
    toy = [s for s, _ in build_toy_corpus(seed=0, n_train=4 * n, n_dev=0, n_devtest=0).train]
    out, i = [], 0
    while len(out) < n:  # join toy sentences to FLORES length
        parts = []
        while sum(map(len, parts)) < 120:
            parts.append(toy[i % len(toy)])
            i += 1
        out.append(" ".join(parts))
    return out


def write_synthetic_flores(root: Path, n: int) -> dict:
    (root / "devtest").mkdir(parents=True, exist_ok=True)
    chars = 0
    for code in languages():
        lines = english_sentences(n) if code == "eng_Latn" else synthetic_sentences(code, n, seed=0)
        chars += sum(map(len, lines))
        (root / "devtest" / f"{code}.devtest").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "dataset.json").write_text(json.dumps({"name": "synthetic-flores", "version": "bench"}))
    return {"languages": len(languages()), "sentences_per_language": n, "characters": chars}


def time_library(tokenizer: str, flores: Path, out: Path) -> dict:
    cfg = TokenizeStatsConfig(tokenizers=[tokenizer], langs="all", data=FloresSourceConfig(flores_dir=str(flores)),
                              show_table=False)
    start = time.perf_counter()
    report = run_tokenize_stats(cfg, out)
    seconds = time.perf_counter() - start
    tokens = sum(r["tokens"] for r in report["rows"])
    return {"seconds": round(seconds, 2), "tokenize_and_measure_seconds": report["tokenizers"][0]["seconds"],
            "tokens": tokens, "tokens_per_second": round(tokens / report["tokenizers"][0]["seconds"])}


def time_cli(tokenizer: str, flores: Path, out: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vepo", "tokenize-stats", f"tokenizers=[{tokenizer}]",
                           f"data.flores_dir={flores}", "show_table=false", f"hydra.run.dir={out}"],
                          capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=1012)
    parser.add_argument("--cli", action="store_true", help="also time the whole `vepo tokenize-stats` command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = write_synthetic_flores(tmp / "flores", args.sentences)
        toy = build_toy_corpus(seed=0, n_train=2000, n_dev=0, n_devtest=0)
        train_tokenizer([s for s, _ in toy.train] + [t for _, t in toy.train], 1024).save_pretrained(tmp / "tiny")
        tokenizers = {"mistral-v1 (sentencepiece)": MISTRAL_V1, "tekken 131k (HF fast)": str(save_tekken(tmp / "tekken")),
                      "tiny byte-level BPE (HF fast)": str(tmp / "tiny")}
        results = {}
        for name, spec in tokenizers.items():
            results[name] = time_library(spec, tmp / "flores", tmp / f"out-{len(results)}")
            if args.cli:
                results[name]["cli_seconds"] = time_cli(spec, tmp / "flores", tmp / f"cli-{len(results)}")
    device = f"cpu-{platform.machine()}"
    record = {"benchmark": "tokenize_stats", "device": device, "cpus": len(os.sched_getaffinity(0)),
              "corpus": corpus, "tokenizers": results, "load_average_1min": round(os.getloadavg()[0], 2),
              "versions": {"vepo": vepo.__version__}, "date": dt.date.today().isoformat()}
    out = Path(__file__).parent / "results" / f"tokenize_stats_{device}.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    table = Table(title=f"tokenize-stats, {corpus['languages']} languages × {args.sentences} sentences")
    for h in ("tokenizer", "run (s)", "tokenize+measure (s)", "tokens", "tokens/s", "CLI (s)"):
        table.add_column(h, justify="left" if h == "tokenizer" else "right")
    for name, r in results.items():
        table.add_row(name, f"{r['seconds']:.1f}", f"{r['tokenize_and_measure_seconds']:.1f}", f"{r['tokens']:,}",
                      f"{r['tokens_per_second']:,}", f"{r.get('cli_seconds', '–')}")
    Console().print(table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
