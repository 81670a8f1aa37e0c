"""FLORES-200 and FLORES+ readers with layout auto-detection.

Layouts (docs/design/evaluation.md):
- original FLORES-200 (`flores200_dataset/`): `<root>/<split>/<code>.<split>`, one sentence per line;
- FLORES+: `<root>/<split>/<code>.parquet` with a `text` column (legacy HF export: `sentence`).
The root may also be the directory that contains `flores200_dataset/`. An optional `dataset.json`
({"name": ..., "version": ...}) names the dataset (the toy layout writes one); otherwise the layout names it.
A code's file is looked up under the code and its aliases (zho_Hans / cmn_Hans, sat_Olck / sat_Beng, ...).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from vepo.data.languages import ALIASES, file_codes, is_known
from vepo.errors import VepoError
from vepo.utils.text_files import read_utf8_lines

SPLITS = ("dev", "devtest")
ENV_VAR = "VEPO_FLORES_DIR"
LAYOUT_ORIGINAL = "flores200"
LAYOUT_PLUS = "flores_plus"
DEFAULT_VERSIONS = {LAYOUT_ORIGINAL: "v1", LAYOUT_PLUS: "unknown"}
TEXT_COLUMNS = ("text", "sentence")


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise VepoError(f"unknown FLORES split '{split}'; use one of {', '.join(SPLITS)}")


def flores_root(flores_dir: str | None) -> Path | None:
    """The configured FLORES directory: `data.flores_dir`, else $VEPO_FLORES_DIR, else None."""
    value = flores_dir or os.environ.get(ENV_VAR)
    return Path(value).expanduser() if value else None


def _candidate_codes(code: str) -> list[str]:
    if is_known(code):
        return file_codes(code)
    return [code, *(a for a, target in ALIASES.items() if target == code)]  # unknown codes (toy) as they are


@dataclass(frozen=True)
class FloresDataset:
    root: Path
    layout: str  # flores200 | flores_plus
    name: str
    version: str

    def path(self, split: str, code: str) -> Path:
        """The file holding `code` in `split`; raises VepoError naming the expected path."""
        check_split(split)
        for candidate in _candidate_codes(code):
            path = self._file(split, candidate)
            if path.is_file():
                return path
        raise VepoError(f"FLORES file for '{code}' not found: expected {self._file(split, code)} "
                        f"({self.name} {self.layout} layout under data.flores_dir={self.root})")

    def _file(self, split: str, code: str) -> Path:
        suffix = "parquet" if self.layout == LAYOUT_PLUS else split
        return self.root / split / f"{code}.{suffix}"

    def read(self, split: str, code: str) -> list[str]:
        path = self.path(split, code)
        lines = _read_parquet(path) if self.layout == LAYOUT_PLUS else read_utf8_lines(path)
        if not lines:
            raise VepoError(f"{path}: no sentences (an empty file); a FLORES file has one sentence per line, so "
                            f"replace it with the dataset's own file")
        empty = [i + 1 for i, line in enumerate(lines) if not line.strip()]
        if empty:
            raise VepoError(f"{path}: empty sentence at line {empty[0]} ({len(empty)} empty in all); FLORES files "
                            f"have one sentence per line")
        return lines

    def read_pair(self, split: str, src: str, tgt: str) -> tuple[list[str], list[str]]:
        sources, references = self.read(split, src), self.read(split, tgt)
        self._check_parallel(split, src, len(sources), tgt, len(references))
        return sources, references

    def check_directions(self, split: str, directions) -> None:
        """Every file of the (src, tgt) `directions` exists, reads as FLORES text (UTF-8, no empty file or line) and
        is line-parallel with its partner: what the reads of a job would find, checked before it starts (each
        language is read once)."""
        counts: dict[str, int] = {}
        for src, tgt in directions:
            for code in (src, tgt):
                if code not in counts:
                    counts[code] = len(self.read(split, code))
            self._check_parallel(split, src, counts[src], tgt, counts[tgt])

    def _check_parallel(self, split: str, src: str, n_src: int, tgt: str, n_tgt: int) -> None:
        if n_src != n_tgt:
            raise VepoError(f"{self.path(split, src)} has {n_src} lines but {self.path(split, tgt)} has {n_tgt}; "
                            f"FLORES files must be line-parallel")

    def has(self, split: str, code: str) -> bool:
        try:
            self.path(split, code)
        except VepoError:
            return False
        return True

    @cached_property
    def _codes(self) -> dict[str, list[str]]:
        out = {}
        for split in SPLITS:
            suffix = ".parquet" if self.layout == LAYOUT_PLUS else f".{split}"
            folder = self.root / split
            out[split] = sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}")) if folder.is_dir() else []
        return out

    def codes(self, split: str) -> list[str]:
        """Codes present in `split`, as stored (aliases not resolved)."""
        check_split(split)
        return list(self._codes[split])

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "layout": self.layout, "root": str(self.root)}


def _read_parquet(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise VepoError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]})") from None
    column = next((c for c in TEXT_COLUMNS if c in table.column_names), None)
    if column is None:
        raise VepoError(f"{path}: no sentence column; expected one of {', '.join(TEXT_COLUMNS)}, found "
                        f"{', '.join(table.column_names)}")
    values = table.column(column).to_pylist()
    missing = [i + 1 for i, v in enumerate(values) if v is None]
    if missing:
        raise VepoError(f"{path}: row {missing[0]} has no text ({len(missing)} missing in all)")
    return [str(v) for v in values]


def _detect_layout(root: Path) -> str | None:
    for split in SPLITS:
        folder = root / split
        if folder.is_dir():
            if any(folder.glob(f"*.{split}")):
                return LAYOUT_ORIGINAL
            if any(folder.glob("*.parquet")):
                return LAYOUT_PLUS
    return None


def open_flores(root: str | Path, name: str | None = None, version: str | None = None) -> FloresDataset:
    """Open a FLORES directory, detecting its layout; `name`/`version` override what the directory says."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise VepoError(f"FLORES directory '{root}' does not exist; set data.flores_dir (or ${ENV_VAR}) to the "
                        f"dataset root (the folder with dev/ and devtest/)")
    if (root / "flores200_dataset").is_dir() and _detect_layout(root) is None:
        root = root / "flores200_dataset"
    layout = _detect_layout(root)
    if layout is None:
        raise VepoError(f"'{root}' is not a FLORES directory: expected dev/<code>.dev (FLORES-200) or "
                        f"dev/<code>.parquet (FLORES+) under it")
    meta = {}
    if (root / "dataset.json").is_file():
        meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    return FloresDataset(root=root, layout=layout, name=name or meta.get("name", layout),
                         version=version or meta.get("version", DEFAULT_VERSIONS[layout]))
