"""Parallel training corpora: TSV, JSONL, Parquet, a local Hugging Face dataset directory, or two aligned text files.

Every problem is reported with its file and line (row): non-UTF-8 bytes, a TSV line without a tab or with more
columns than it should have, a JSONL line that is not an object with the two fields, mismatched line counts. Rows with
an empty side (blank lines included) and exact duplicate pairs are dropped and counted in the `CorpusReport` (never
silently).

TSV: two columns, source then target, unless the first row is a header. A header is detected when it names
`data.src_field` and `data.tgt_field`, or when every cell is a usual column name (src, tgt, source, target) or a
language code (eng_Latn); `data.tsv_header=true|false` says so explicitly. With a header the columns are picked by
name (data.src_field / data.tgt_field, else the run's language codes, else the two columns in order) and every row
needs one cell per header column; the header row is skipped and the report says so. A third column is never dropped
silently: without a header it is an error naming the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from vepo.errors import VepoError
from vepo.utils.text_files import read_utf8_lines

FORMATS = ("auto", "tsv", "jsonl", "parquet", "hf", "text")
_SUFFIXES = {".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
MAX_LOCATIONS = 5  # example locations kept per kind of dropped row
HEADER_NAMES = ("src", "tgt", "source", "target")
_LANG_CODE = re.compile(r"^[a-z]{2,3}_[A-Z][a-z]{3}$")


@dataclass
class CorpusReport:
    source: str
    rows_read: int = 0
    pairs: int = 0
    empty: int = 0
    duplicates: int = 0
    empty_at: list[str] = field(default_factory=list)
    duplicate_at: list[str] = field(default_factory=list)
    header: list[str] | None = None  # TSV: the header row that was skipped

    def note(self, kind: str, where: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        locations = self.empty_at if kind == "empty" else self.duplicate_at
        if len(locations) < MAX_LOCATIONS:
            locations.append(where)

    def summary(self) -> str:
        parts = [f"{self.pairs} pairs from {self.rows_read} rows of {self.source}"]
        if self.header:
            parts.append(f"skipped the header row ({', '.join(self.header)})")
        if self.empty:
            parts.append(f"dropped {self.empty} with an empty side (first: {', '.join(self.empty_at)})")
        if self.duplicates:
            parts.append(f"dropped {self.duplicates} duplicate pairs (first: {', '.join(self.duplicate_at)})")
        return "; ".join(parts)


def _is_header(cells: list[str], src_field: str, tgt_field: str) -> bool:
    names = [c.strip() for c in cells]
    if src_field in names and tgt_field in names:
        return True
    return len(names) >= 2 and all(n.lower() in HEADER_NAMES or _LANG_CODE.match(n) for n in names)


def _header_columns(path: Path, head: list[str], src_field: str, tgt_field: str,
                    langs: tuple[str, str] | None) -> tuple[int, int]:
    """Which header columns hold the source and the target."""
    for src, tgt in ((src_field, tgt_field), langs or ("", "")):
        if src in head and tgt in head:
            return head.index(src), head.index(tgt)
    codes = [c for c in head if _LANG_CODE.match(c)]
    if codes and langs:
        raise VepoError(f"{path}:1: the header names the languages {', '.join(codes)}, but this run translates "
                        f"{langs[0]} -> {langs[1]}; fix lang.src / lang.tgt, or name the columns with data.src_field "
                        f"/ data.tgt_field")
    if len(head) == 2:
        return 0, 1
    raise VepoError(f"{path}:1: the header row names {len(head)} columns ({', '.join(head)}); set data.src_field and "
                    f"data.tgt_field to the source and target columns")


def _tsv_rows(path: Path, src_field: str, tgt_field: str, header: bool | None,
              langs: tuple[str, str] | None) -> tuple[list[tuple[str, str, str]], list[str] | None]:
    """Rows of a TSV file and its header row (None when it has none)."""
    lines = read_utf8_lines(path)
    first = lines[0].split("\t") if lines else []
    has_header = _is_header(first, src_field, tgt_field) if header is None else header
    head = [c.strip() for c in first] if lines and has_header else None
    src_col, tgt_col = _header_columns(path, head, src_field, tgt_field, langs) if head else (0, 1)
    width = len(head) if head else 2
    rows = []
    for i, line in enumerate(lines[1:] if head else lines, start=2 if head else 1):
        where = f"{path.name}:{i}"
        if not line.strip():
            rows.append(("", "", where))  # a blank line: dropped and counted like any empty side
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise VepoError(f"{path}:{i}: expected 'source<TAB>target', found no tab; fix the line or the format")
        if len(cols) != width and head:
            raise VepoError(f"{path}:{i}: {len(cols)} columns, but the header row has {width}; every row needs one "
                            f"cell per header column")
        if len(cols) != width:
            raise VepoError(f"{path}:{i}: {len(cols)} tab-separated columns; a TSV without a header row is exactly "
                            f"source<TAB>target: remove the extra columns, or add a header row naming every column "
                            f"and pick two with data.src_field / data.tgt_field")
        rows.append((cols[src_col], cols[tgt_col], where))
    return rows, head


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
                  tgt_field: str = "tgt", max_pairs: int | None = None, *, tsv_header: bool | None = None,
                  langs: tuple[str, str] | None = None) -> tuple[list[tuple[str, str]], CorpusReport]:
    """Clean (source, target) pairs and the report of what was dropped. TSV only: `tsv_header` (None: detect) and
    `langs` (the run's source and target codes, which may name the header's columns)."""
    if fmt not in FORMATS:
        raise VepoError(f"data.format='{fmt}' is not one of {', '.join(FORMATS)}")
    src = _existing(Path(path).expanduser(), "data.path")
    fmt = detect_format(src, tgt_path) if fmt == "auto" else fmt
    if fmt == "text" and tgt_path is None:
        raise VepoError("data.format=text needs data.tgt_path=<target-side file aligned with data.path>")
    header: list[str] | None = None
    readers = {
        "tsv": lambda: _tsv_rows(src, src_field, tgt_field, tsv_header, langs),
        "jsonl": lambda: _jsonl_rows(src, src_field, tgt_field),
        "parquet": lambda: _parquet_rows(src, src_field, tgt_field),
        "hf": lambda: _hf_rows(src, src_field, tgt_field),
        "text": lambda: _text_rows(src, Path(tgt_path).expanduser() if tgt_path else src),
    }
    rows = readers[fmt]()
    if fmt == "tsv":
        rows, header = rows
    if header is not None and not rows:
        raise VepoError(f"{src}: only a header row ({', '.join(header)}), no sentence pairs; add the pairs below it")
    report = CorpusReport(source=str(src), rows_read=len(rows), header=header)
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
