"""Parallel training corpora: TSV, JSONL, Parquet, a local Hugging Face dataset directory, or two aligned text files.

Every problem is reported with its file and line (row): non-UTF-8 bytes, a TSV line without a tab, a JSONL line that
is not an object with the two fields, mismatched line counts. Rows with an empty side and exact duplicate pairs are
dropped and counted in the `CorpusReport` (never silently).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vepo.errors import VepoError
from vepo.utils.text_files import read_utf8_lines

FORMATS = ("auto", "tsv", "jsonl", "parquet", "hf", "text")
_SUFFIXES = {".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
MAX_LOCATIONS = 5  # example locations kept per kind of dropped row


@dataclass
class CorpusReport:
    source: str
    rows_read: int = 0
    pairs: int = 0
    empty: int = 0
    duplicates: int = 0
    empty_at: list[str] = field(default_factory=list)
    duplicate_at: list[str] = field(default_factory=list)

    def note(self, kind: str, where: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        locations = self.empty_at if kind == "empty" else self.duplicate_at
        if len(locations) < MAX_LOCATIONS:
            locations.append(where)

    def summary(self) -> str:
        parts = [f"{self.pairs} pairs from {self.rows_read} rows of {self.source}"]
        if self.empty:
            parts.append(f"dropped {self.empty} with an empty side (first: {', '.join(self.empty_at)})")
        if self.duplicates:
            parts.append(f"dropped {self.duplicates} duplicate pairs (first: {', '.join(self.duplicate_at)})")
        return "; ".join(parts)


def _tsv_rows(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for i, line in enumerate(read_utf8_lines(path), start=1):
        cols = line.split("\t")
        if len(cols) < 2:
            raise VepoError(f"{path}:{i}: expected 'source<TAB>target', found no tab; fix the line or the format")
        rows.append((cols[0], cols[1], f"{path.name}:{i}"))
    return rows


def _record_rows(records, where, src_field: str, tgt_field: str, origin: str) -> list[tuple[str, str, str]]:
    rows = []
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict) or src_field not in rec or tgt_field not in rec:
            keys = ", ".join(rec) if isinstance(rec, dict) else type(rec).__name__
            raise VepoError(f"{origin}:{i}: needs fields '{src_field}' and '{tgt_field}' (found: {keys}); set "
                            f"data.src_field / data.tgt_field")
        src, tgt = rec[src_field], rec[tgt_field]
        rows.append(("" if src is None else str(src), "" if tgt is None else str(tgt), f"{where}:{i}"))
    return rows


def _jsonl_rows(path: Path, src_field: str, tgt_field: str) -> list[tuple[str, str, str]]:
    records = []
    for i, line in enumerate(read_utf8_lines(path), start=1):
        if not line.strip():
            records.append({src_field: "", tgt_field: ""})
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise VepoError(f"{path}:{i}: not valid JSON ({exc.msg}); JSONL needs one object per line") from None
    return _record_rows(records, path.name, src_field, tgt_field, str(path))


def _parquet_rows(path: Path, src_field: str, tgt_field: str) -> list[tuple[str, str, str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise VepoError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]})") from None
    return _record_rows(table.to_pylist(), f"{path.name} row", src_field, tgt_field, f"{path} row")


def _hf_rows(path: Path, src_field: str, tgt_field: str) -> list[tuple[str, str, str]]:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise VepoError(f"{path}: not a dataset saved with datasets' save_to_disk ({exc})") from None
    if isinstance(ds, DatasetDict):
        if "train" not in ds:
            raise VepoError(f"{path}: dataset has splits {', '.join(ds)} but no 'train' split")
        ds = ds["train"]
    return _record_rows(ds.to_list(), f"{path.name} row", src_field, tgt_field, f"{path} row")


def _text_rows(src_path: Path, tgt_path: Path) -> list[tuple[str, str, str]]:
    sources, targets = read_utf8_lines(src_path), read_utf8_lines(_existing(tgt_path, "data.tgt_path"))
    if len(sources) != len(targets):
        raise VepoError(f"{src_path} has {len(sources)} lines but {tgt_path} has {len(targets)}; aligned text "
                        f"files need the same number of lines")
    return [(s, t, f"{src_path.name}:{i}") for i, (s, t) in enumerate(zip(sources, targets), start=1)]


def _existing(path: Path, key: str) -> Path:
    if not path.exists():
        raise VepoError(f"{key}='{path}' does not exist; point it at the parallel corpus")
    return path


def detect_format(path: Path, tgt_path: str | None) -> str:
    if tgt_path is not None:
        return "text"
    if path.is_dir():
        return "hf"
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise VepoError(f"cannot tell the format of '{path}' from its suffix; set data.format to one of "
                        f"{', '.join(FORMATS[1:])}")
    return fmt


def read_parallel(path: str, tgt_path: str | None = None, fmt: str = "auto", src_field: str = "src",
                  tgt_field: str = "tgt", max_pairs: int | None = None) -> tuple[list[tuple[str, str]], CorpusReport]:
    """Clean (source, target) pairs and the report of what was dropped."""
    if fmt not in FORMATS:
        raise VepoError(f"data.format='{fmt}' is not one of {', '.join(FORMATS)}")
    src = _existing(Path(path).expanduser(), "data.path")
    fmt = detect_format(src, tgt_path) if fmt == "auto" else fmt
    if fmt == "text" and tgt_path is None:
        raise VepoError("data.format=text needs data.tgt_path=<target-side file aligned with data.path>")
    readers = {
        "tsv": lambda: _tsv_rows(src),
        "jsonl": lambda: _jsonl_rows(src, src_field, tgt_field),
        "parquet": lambda: _parquet_rows(src, src_field, tgt_field),
        "hf": lambda: _hf_rows(src, src_field, tgt_field),
        "text": lambda: _text_rows(src, Path(tgt_path).expanduser() if tgt_path else src),
    }
    rows = readers[fmt]()
    report = CorpusReport(source=str(src), rows_read=len(rows))
    pairs, seen = [], set()
    for s, t, where in rows:
        s, t = s.strip(), t.strip()
        if not s or not t:
            report.note("empty", where)
        elif (s, t) in seen:
            report.note("duplicates", where)
        else:
            seen.add((s, t))
            pairs.append((s, t))
    if max_pairs is not None:
        pairs = pairs[:max_pairs]
    report.pairs = len(pairs)
    if not pairs:
        raise VepoError(f"{src}: no usable sentence pairs ({report.summary()})")
    return pairs, report
