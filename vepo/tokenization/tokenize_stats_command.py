"""`vepo tokenize-stats`: every tokenizer on every language of a FLORES split, written as CSV, JSON and a plot."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from vepo.data.languages import canonical_code, english_name, is_known, script_of
from vepo.errors import VepoError
from vepo.config.tokenization import TokenizeStatsConfig
from vepo.tokenization.checks import check_tokenize_stats_config, open_dataset
from vepo.tokenization.languages import resolve_languages
from vepo.tokenization.plot import plot_chars_per_token
from vepo.tokenization.report import print_table, stats_table, write_csv, write_json
from vepo.tokenization.segmenters import segmenter_for
from vepo.tokenization.sources import load_tokenizer_source
from vepo.tokenization.stats import TextStats, measure
from vepo.utils.provenance import provenance

CSV_NAME, JSON_NAME, PLOT_NAME = "tokenize_stats.csv", "tokenize_stats.json", "tokenize_stats.png"


def _row(tokenizer: str, code: str, stats: TextStats, pivot_tokens: int | None) -> dict:
    return {"tokenizer": tokenizer, "lang": code, "language": english_name(code), "script": script_of(code),
            **stats.to_dict(),
            "premium": stats.tokens / pivot_tokens if pivot_tokens else None, "gain_vs_first": None}


def _add_gains(rows: list[dict], first: str) -> None:
    """Compression gain of each tokenizer over the first = tokens(first) / tokens(this), per language."""
    base = {r["lang"]: r["tokens"] for r in rows if r["tokenizer"] == first}
    for r in rows:
        r["gain_vs_first"] = base[r["lang"]] / r["tokens"] if r["tokens"] else None


def _unique_names(specs: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for spec in specs:
        seen[spec] = seen.get(spec, 0) + 1
        out.append(spec if seen[spec] == 1 else f"{spec}#{seen[spec]}")
    return out


def run_tokenize_stats(cfg: TokenizeStatsConfig, run_dir: Path) -> dict:
    check_tokenize_stats_config(cfg)
    dataset = open_dataset(cfg)
    codes = resolve_languages(cfg.langs, dataset, cfg.split)
    pivot = canonical_code(cfg.pivot) if is_known(cfg.pivot) else cfg.pivot
    has_pivot = dataset.has(cfg.split, pivot)
    sources = [load_tokenizer_source(spec, cfg.trust_remote_code) for spec in cfg.tokenizers]  # fail before work
    names = _unique_names(list(cfg.tokenizers))

    texts = {code: dataset.read(cfg.split, code)[: cfg.max_sentences] for code in dict.fromkeys(
        [*codes, *([pivot] if has_pivot else [])])}
    if has_pivot:
        for code in codes:
            if len(texts[code]) != len(texts[pivot]):
                raise VepoError(f"{dataset.path(cfg.split, code)} has {len(texts[code])} lines but the pivot "
                                f"{dataset.path(cfg.split, pivot)} has {len(texts[pivot])}; FLORES files must be "
                                f"line-parallel")
    segmenters = {code: segmenter_for(code, cfg.zh_segmenter) for code in texts}

    rows, timings = [], []
    for name, source in zip(names, sources):
        start = time.perf_counter()
        measured = {code: measure(source, texts[code], segmenters[code]) for code in texts}
        seconds = time.perf_counter() - start
        pivot_tokens = measured[pivot].tokens if has_pivot else None
        rows += [_row(name, code, measured[code], pivot_tokens) for code in codes]
        n_sentences = sum(len(texts[c]) for c in texts)
        timings.append({**source.describe(), "name": name, "seconds": round(seconds, 3), "sentences": n_sentences,
                        "sentences_per_second": round(n_sentences / seconds, 1) if seconds > 0 else None})
    if len(sources) > 1:
        _add_gains(rows, names[0])

    out_dir = Path(cfg.output_dir) if cfg.output_dir else Path(run_dir)
    notes = [] if has_pivot else [f"pivot {pivot} has no '{cfg.split}' file under {dataset.root}: premium is empty"]
    report = {
        "provenance": provenance(asdict(cfg)),
        "dataset": {**dataset.describe(), "split": cfg.split, "max_sentences": cfg.max_sentences},
        "pivot": pivot, "langs": codes, "tokenizers": timings, "notes": notes, "rows": rows,
    }
    write_csv(rows, out_dir / CSV_NAME)
    write_json(report, out_dir / JSON_NAME)
    if cfg.plot:
        title = f"characters per token, FLORES {dataset.name} {cfg.split} ({len(codes)} languages)"
        plot_chars_per_token(rows, out_dir / PLOT_NAME, title)
    if cfg.show_table:
        print_table(stats_table(rows, title=f"tokenize-stats: {dataset.name} {cfg.split}"))
        print(f"wrote {out_dir / CSV_NAME}, {JSON_NAME}" + (f", {PLOT_NAME}" if cfg.plot else ""))
    return report
