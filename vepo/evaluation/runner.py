"""Evaluate a model (or existing hypothesis files) over a suite of directions: read every direction's data first (a
missing file fails before any generation), generate the unfinished segments in length-sorted waves across
directions, score and write each direction as soon as its wave ends, then write the summaries."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vepo.config.schema import EvalSettings, ModelConfig, PromptConfig
from vepo.data.flores import FloresDataset
from vepo.data.prompts import PromptBuilder, language_names
from vepo.errors import VepoError
from vepo.evaluation.engines import GenerationEngine, HFEngine, StaticCacheEngine, VLLMEngine, check_engine
from vepo.evaluation.metrics import Scorer
from vepo.evaluation.store import ResultStore
from vepo.evaluation.suites import Direction
from vepo.evaluation.summary import empty_hypotheses_warning, print_summary, write_summary
from vepo.utils.io import atomic_write_json
from vepo.utils.text_files import read_utf8_lines

console = Console()
log = logging.getLogger("vepo")


@dataclass
class DirectionData:
    direction: Direction
    sources: list[str]
    references: list[str]
    prompts: list[str] = field(default_factory=list)


def read_directions(flores: FloresDataset, split: str, directions: list[Direction],
                    max_segments: int | None) -> list[DirectionData]:
    out = []
    for d in directions:
        sources, references = flores.read_pair(split, d.src, d.tgt)
        out.append(DirectionData(d, sources[:max_segments], references[:max_segments]))
    return out


def build_scorer(settings: EvalSettings, device: str) -> Scorer:
    return Scorer(spbleu=settings.spbleu, comet=settings.comet, comet_model=settings.comet_model,
                  comet_batch_size=settings.comet_batch_size, comet_device=settings.comet_device or device)


def build_record(data: DirectionData, hypotheses: list[str], scorer: Scorer, flores: FloresDataset, split: str,
                 model: str, engine: str, extra: dict) -> dict:
    d = data.direction
    scores = scorer.score(d.tgt, data.sources, hypotheses, data.references)
    return {
        "direction": d.name, "src": d.src, "tgt": d.tgt, "split": split, "n_segments": len(data.sources),
        "dataset": flores.describe(), "model": model, "engine": engine, **extra,
        "metrics": scores.metrics, "segments": scores.segments, "notes": scores.notes,
        "sources": data.sources, "hypotheses": hypotheses, "references": data.references,
    }


def _waves(items: list[DirectionData], size: int) -> list[list[DirectionData]]:
    """Consecutive groups of directions holding about `size` segments: length sorting works inside a wave, and a
    wave's directions are written as soon as it ends."""
    waves, current, count = [], [], 0
    for item in items:
        current.append(item)
        count += len(item.sources)
        if count >= size:
            waves.append(current)
            current, count = [], 0
    if current:
        waves.append(current)
    return waves


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[dirs]} dirs"), TextColumn("{task.fields[tps]} tok/s"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


@dataclass
class EvalContext:
    """Everything a suite run needs besides the directions."""

    flores: FloresDataset
    settings: EvalSettings
    out_dir: Path
    model_label: str
    extra: dict  # recorded in every result (prompt kind, generation settings, provenance)


def _generate_waves(pending: list[DirectionData], engine: GenerationEngine, store: ResultStore, scorer: Scorer,
                    ctx: EvalContext, total_dirs: int, done_dirs: int) -> dict:
    cached = store.cached_segments()
    todo = sum(1 for p in pending for i in range(len(p.sources)) if i not in cached.get(p.direction.name, {}))
    stats = {"segments_generated": 0, "new_tokens": 0, "generation_seconds": 0.0}
    with _progress() as progress:
        task = progress.add_task("translating", total=todo, dirs=f"{done_dirs}/{total_dirs}", tps="—")
        start = time.perf_counter()

        def on_batch(keys: list[tuple[str, int]], idx: list[int], hyps: list[str], tokens: int) -> None:
            rows = [(keys[i][0], keys[i][1], h) for i, h in zip(idx, hyps)]
            store.append_segments(rows)
            for d, i, h in rows:
                cached.setdefault(d, {})[i] = h
            stats["segments_generated"] += len(rows)
            stats["new_tokens"] += tokens
            elapsed = time.perf_counter() - start
            progress.update(task, advance=len(rows), tps=f"{stats['new_tokens'] / max(elapsed, 1e-9):,.0f}")

        groups = _waves(pending, ctx.settings.wave_segments) if ctx.settings.length_sorted else [[p] for p in pending]
        for group in groups:
            keys = [(p.direction.name, i) for p in group for i in range(len(p.sources))
                    if i not in cached.get(p.direction.name, {})]
            by_name = {p.direction.name: p for p in group}
            prompts = [by_name[d].prompts[i] for d, i in keys]
            if prompts:
                engine.generate(prompts, lambda idx, hyps, tok: on_batch(keys, idx, hyps, tok),
                                sort_by_length=ctx.settings.length_sorted)
            for p in group:
                hyps = [cached[p.direction.name][i] for i in range(len(p.sources))]
                store.write(build_record(p, hyps, scorer, ctx.flores, ctx.settings.split, ctx.model_label,
                                         engine.name, ctx.extra))
                done_dirs += 1
                progress.update(task, dirs=f"{done_dirs}/{total_dirs}")
        stats["generation_seconds"] = round(time.perf_counter() - start, 3)
    return stats


def _identity(ctx: EvalContext, data: DirectionData) -> dict:
    return {"model": ctx.model_label, "split": ctx.settings.split, "n_segments": len(data.sources),
            "dataset_version": ctx.flores.version, "generation": ctx.extra.get("generation")}


def build_engine(model_path: str, model_cfg: ModelConfig, settings: EvalSettings, device: str, seed: int):
    """The generation engine and the tokenizer prompts are built with."""
    from vepo.models.loading import load_model, load_tokenizer

    check_engine(settings.engine)
    tokenizer = load_tokenizer(model_path, model_cfg.trust_remote_code)
    if settings.engine == "vllm":
        return VLLMEngine(model_path, settings, model_cfg.dtype, model_cfg.trust_remote_code, seed), tokenizer
    model = load_model(model_path, model_cfg.dtype, device, model_cfg.trust_remote_code)
    if settings.engine == "static":
        return StaticCacheEngine(model, tokenizer, settings), tokenizer
    return HFEngine(model, tokenizer, settings), tokenizer


def add_prompts(items: list[DirectionData], builder: PromptBuilder) -> None:
    for item in items:
        src_name, tgt_name = language_names(item.direction.src, item.direction.tgt)
        item.prompts = [builder.prompt(s, src_name, tgt_name) for s in item.sources]


def run_translation_suite(directions: list[Direction], ctx: EvalContext, title: str, *, model_path: str | None,
                          model_cfg: ModelConfig, prompt_cfg: PromptConfig, device: str, seed: int = 0,
                          hyps_dir: str | None = None) -> dict:
    """Evaluate `directions`; finished directions in ctx.out_dir are kept. Returns the summary."""
    items = read_directions(ctx.flores, ctx.settings.split, directions, ctx.settings.max_segments)
    store = ResultStore(ctx.out_dir)
    pending = [it for it in items if not store.finished(it.direction.name, _identity(ctx, it))]
    notes: list[str] = []
    if len(pending) < len(items):
        console.print(f"{len(items) - len(pending)} of {len(items)} directions already finished in "
                      f"{ctx.out_dir}/results: kept")
    stats: dict = {}
    if pending:
        scorer = build_scorer(ctx.settings, device)
        if hyps_dir is not None:
            pending = _score_hypothesis_files(pending, Path(hyps_dir), store, scorer, ctx, notes)
        else:
            engine, tokenizer = build_engine(model_path, model_cfg, ctx.settings, device, seed)
            builder = PromptBuilder(prompt_cfg, tokenizer)
            ctx.extra.setdefault("prompt", builder.kind)
            add_prompts(pending, builder)
            store.use_cache_for({"model": ctx.model_label, "split": ctx.settings.split,
                                 "generation": ctx.extra.get("generation"), "prompt": builder.kind})
            stats = _generate_waves(pending, engine, store, scorer, ctx, len(items), len(items) - len(pending))
            store.clear_cache()
        if scorer.spbleu_note:
            notes.append(scorer.spbleu_note)
    records = [r for r in (store.load(it.direction.name) for it in items) if r is not None]
    missing = len(items) - len(records)
    if missing:
        notes.append(f"{missing} of {len(items)} directions have no result (see above)")
    summary = write_summary(records, ctx.out_dir, title, notes)
    empty = empty_hypotheses_warning(records)
    if empty:
        log.warning(empty)
    if stats:
        summary["throughput"] = stats | {
            "segments_per_second": round(stats["segments_generated"] / max(stats["generation_seconds"], 1e-9), 2)}
        atomic_write_json(ctx.out_dir / "summary.json", summary)
    print_summary(summary, console)
    return summary


def _score_hypothesis_files(pending: list[DirectionData], hyps_dir: Path, store: ResultStore, scorer: Scorer,
                            ctx: EvalContext, notes: list[str]) -> list[DirectionData]:
    if not hyps_dir.is_dir():
        raise VepoError(f"hyps='{hyps_dir}' is not a directory; it should hold <src>-<tgt>.txt files")
    found = [p for p in pending if (hyps_dir / f"{p.direction.name}.txt").is_file()]
    if not found:
        raise VepoError(f"hyps='{hyps_dir}' has none of the suite's hypothesis files (expected e.g. "
                        f"{pending[0].direction.name}.txt)")
    for p in found:
        path = hyps_dir / f"{p.direction.name}.txt"
        hyps = read_utf8_lines(path)
        if len(hyps) != len(p.sources):
            raise VepoError(f"{path} has {len(hyps)} lines but {ctx.flores.name} {ctx.settings.split} "
                            f"{p.direction.name} has {len(p.sources)} segments; one hypothesis per line")
        store.write(build_record(p, hyps, scorer, ctx.flores, ctx.settings.split, ctx.model_label, "files",
                                 ctx.extra))
    skipped = [p.direction.name for p in pending if p not in found]
    if skipped:
        notes.append(f"no hypothesis file for {len(skipped)} direction(s): {', '.join(skipped[:5])}"
                     + (" ..." if len(skipped) > 5 else ""))
    return [p for p in pending if p not in found]
