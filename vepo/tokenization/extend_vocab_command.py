"""`vepo extend-vocab`: add target-language pieces to a model's tokenizer and embeddings, save a checkpoint that
train and eval load like any model, and report tokenization before and after on held-out text."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from vepo.errors import VepoError
from vepo.tokenization.added_tokens import ADDED_TOKENS_FILE, write_added_tokens
from vepo.config.tokenization import ExtendVocabConfig
from vepo.tokenization.checks import check_extend_vocab_config, target_code
from vepo.tokenization.corpus import as_paths, read_lines, split_heldout
from vepo.tokenization.embeddings import extend_embeddings
from vepo.tokenization.extension import (
    NewPiece, default_train_vocab_size, piece_counts, select_new_pieces,
)
from vepo.tokenization.segmenters import segmenter_for
from vepo.tokenization.sources import HFTokenizerSource, load_hf_tokenizer
from vepo.tokenization.stats import TextStats, measure
from vepo.utils.io import atomic_write_json
from vepo.utils.provenance import provenance

REPORT_NAME = "extend_vocab.json"


def _add_tokens(tokenizer, pieces: list[NewPiece]) -> list[int]:
    """Add the pieces as ordinary (non-special) tokens matched on normalized text; their ids, in piece order."""
    from tokenizers import AddedToken

    before = len(tokenizer)
    added = tokenizer.add_tokens([AddedToken(p.content, normalized=True, special=False) for p in pieces])
    if added != len(pieces):
        raise VepoError(f"the tokenizer accepted {added} of {len(pieces)} new tokens; some already exist as added "
                        f"tokens of this checkpoint")
    ids = tokenizer.convert_tokens_to_ids([p.content for p in pieces])
    if min(ids) < before:
        raise RuntimeError("added tokens reused existing ids")
    return ids


def _save_checkpoint(model, tokenizer, record: dict, out_dir: Path) -> Path:
    """Write into a temporary sibling, then rename: an interrupted run leaves no half checkpoint."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise VepoError(f"output directory '{out_dir}' exists and is not empty; pass another output_dir")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_added_tokens(tmp, record)
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _comparison(before: TextStats, after: TextStats) -> dict:
    tpc_before, tpc_after = before.tokens / before.chars, after.tokens / after.chars
    return {"before": before.to_dict(), "after": after.to_dict(),
            "compression_gain": before.tokens / after.tokens if after.tokens else None,
            "tokens_per_char_reduction": 1.0 - tpc_after / tpc_before if tpc_before else None}


def _print_comparison(comparison: dict, lang: str, n_heldout: int) -> None:
    from rich.table import Table

    from vepo.tokenization.report import wide_console

    table = Table(title=f"extend-vocab: {lang}, {n_heldout} held-out lines", header_style="bold")
    for h in ("tokenizer", "tokens", "chars/tok", "bytes/tok", "fertility", "cont. words", "byte-fb", "unk"):
        table.add_column(h, justify="left" if h == "tokenizer" else "right")
    for name in ("before", "after"):
        s = comparison[name]
        fmt = (lambda v, f: "–" if v is None else format(v, f))
        table.add_row("base" if name == "before" else "extended", f"{s['tokens']:,}",
                      fmt(s["chars_per_token"], ".3f"), fmt(s["bytes_per_token"], ".3f"), fmt(s["fertility"], ".2f"),
                      fmt(s["continued_word_share"], ".1%"), fmt(s["byte_fallback_rate"], ".1%"),
                      fmt(s["unk_rate"], ".1%"))
    console = wide_console()
    console.print(table)
    console.print(f"compression gain {comparison['compression_gain']:.3f}x, tokens per character "
                  f"-{comparison['tokens_per_char_reduction']:.1%}")


def run_extend_vocab(cfg: ExtendVocabConfig, run_dir: Path) -> dict:
    from vepo.models.loading import load_model

    check_extend_vocab_config(cfg)
    start = time.perf_counter()
    lang = target_code(cfg.lang.tgt)
    segmenter = segmenter_for(lang, cfg.zh_segmenter)
    lines = read_lines(as_paths(cfg.corpus, "corpus"), "corpus")
    if cfg.heldout is not None:
        train_lines, heldout_lines = lines, read_lines(as_paths(cfg.heldout, "heldout"), "heldout")
    else:
        train_lines, heldout_lines = split_heldout(lines, cfg.heldout_fraction, cfg.seed)

    tokenizer = load_hf_tokenizer(cfg.model.path, cfg.model.trust_remote_code)
    base = HFTokenizerSource("base", tokenizer.backend_tokenizer, tokenizer.unk_token_id)  # a snapshot copy
    base_size = len(tokenizer)
    vocab_size = cfg.train_vocab_size or default_train_vocab_size(train_lines, cfg.added_tokens)
    counts = piece_counts(train_lines, cfg.subword, vocab_size, cfg.min_count, cfg.seed)
    pieces = select_new_pieces(counts, tokenizer, cfg.added_tokens, cfg.min_count)

    model = load_model(cfg.model.path, cfg.model.dtype, "cpu", cfg.model.trust_remote_code)
    new_ids = _add_tokens(tokenizer, pieces)
    resize = extend_embeddings(model, new_ids, [list(p.base_ids) for p in pieces])

    extended = HFTokenizerSource("extended", tokenizer.backend_tokenizer, tokenizer.unk_token_id)
    comparison = _comparison(measure(base, heldout_lines, segmenter), measure(extended, heldout_lines, segmenter))
    out_dir = Path(cfg.output_dir) if cfg.output_dir else Path(run_dir) / "checkpoint"
    record = {
        "lang": lang, "base_model": str(cfg.model.path), "base_vocab_size": base_size, "subword": cfg.subword,
        "train_vocab_size": vocab_size, "new_ids": new_ids,
        "tokens": [{"id": i, "content": p.content, "count": p.count, "base_ids": list(p.base_ids),
                    "saving": p.saving} for i, p in zip(new_ids, pieces)],
    }
    _save_checkpoint(model, tokenizer, record, out_dir)
    report = {
        "provenance": provenance(asdict(cfg)), "checkpoint": str(out_dir), "lang": lang,
        "segmenter": segmenter.name if segmenter else None, "corpus_lines": len(lines),
        "train_lines": len(train_lines), "heldout_lines": len(heldout_lines),
        "heldout_source": "heldout file" if cfg.heldout is not None else f"{cfg.heldout_fraction:g} of the corpus",
        "base_vocab_size": base_size, "extended_vocab_size": len(tokenizer), "added_tokens": len(new_ids),
        "embeddings": resize, "heldout_stats": comparison, "added_tokens_file": str(out_dir / ADDED_TOKENS_FILE),
        "seconds": round(time.perf_counter() - start, 2),
    }
    atomic_write_json(Path(run_dir) / REPORT_NAME, report)
    _print_comparison(comparison, lang, len(heldout_lines))
    print(f"wrote {out_dir} ({len(new_ids)} new tokens, ids {min(new_ids)}–{max(new_ids)}) and "
          f"{Path(run_dir) / REPORT_NAME}")
    return report
