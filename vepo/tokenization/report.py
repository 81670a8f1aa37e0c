"""tokenize-stats outputs: rows as a rich table, `tokenize_stats.csv` and `tokenize_stats.json`."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vepo.utils.io import atomic_write_json, atomic_write_text

# CSV column order: identity, then the headline ratios, then the counts they come from.
COLUMNS = ("tokenizer", "lang", "language", "script", "segmenter", "sentences", "chars", "bytes", "tokens",
           "chars_per_token", "bytes_per_token", "premium", "fertility", "continued_word_share", "byte_fallback_rate",
           "unk_rate", "gain_vs_first", "words", "continued_words", "byte_fallback_tokens", "unk_tokens")


def display_names(names: list[str]) -> dict[str, str]:
    """Short labels for tables and legends: a path's last component (the full names stay in CSV and JSON); the full
    names where the short ones would collide."""
    short = {n: Path(n).name if Path(n).expanduser().exists() else n for n in names}
    return short if len(set(short.values())) == len(short) else {n: n for n in names}


def write_csv(rows: list[dict], path: Path) -> Path:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return atomic_write_text(path, buffer.getvalue())


def write_json(report: dict, path: Path) -> Path:
    return atomic_write_json(path, report)


def _num(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def stats_table(rows: list[dict], title: str | None = None) -> Table:
    names = list(dict.fromkeys(r["tokenizer"] for r in rows))
    labels = display_names(names)
    several = len(names) > 1
    table = Table(title=title, show_lines=False, header_style="bold")
    headers = (["tokenizer"] if several else []) + ["lang", "segmenter", "tokens", "chars/tok", "bytes/tok",
                                                     "premium", "fertility", "cont. words", "byte-fb", "unk"]
    headers += ["gain"] if several else []
    for h in headers:
        table.add_column(h, justify="left" if h in ("tokenizer", "lang", "segmenter") else "right")
    for r in rows:
        cells = [labels[r["tokenizer"]]] if several else []
        cells += [r["lang"], r["segmenter"] or "–", f"{r['tokens']:,}", _num(r["chars_per_token"], ".3f"),
                  _num(r["bytes_per_token"], ".3f"), _num(r["premium"], ".2f"), _num(r["fertility"], ".2f"),
                  _pct(r["continued_word_share"]), _pct(r["byte_fallback_rate"]), _pct(r["unk_rate"])]
        cells += [_num(r["gain_vs_first"], ".3f")] if several else []
        table.add_row(*cells)
    return table


def wide_console() -> Console:
    """The terminal's width in a terminal; wide enough for every column when output goes to a file or a pipe."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=160)


def print_table(table: Table) -> None:
    wide_console().print(table)
