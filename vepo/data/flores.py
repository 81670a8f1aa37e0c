"""Reader for the FLORES-200 directory layout: `<root>/<split>/<code>.<split>`, one sentence per line."""

from __future__ import annotations

from pathlib import Path

from vepo.errors import VepoError

SPLITS = ("dev", "devtest")


def flores_file(root: str | Path, split: str, code: str) -> Path:
    if split not in SPLITS:
        raise VepoError(f"unknown FLORES split '{split}'; use one of {', '.join(SPLITS)}")
    return Path(root) / split / f"{code}.{split}"


def read_flores(root: str | Path, split: str, code: str) -> list[str]:
    path = flores_file(root, split, code)
    if not path.is_file():
        raise VepoError(f"FLORES file not found: {path} (expected <flores_dir>/{split}/{code}.{split}; "
                        f"set data.flores_dir to the dataset root)")
    try:
        return path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    except UnicodeDecodeError as exc:
        raise VepoError(f"{path}: not valid UTF-8 at byte {exc.start}; re-encode the file as UTF-8") from None


def read_flores_pair(root: str | Path, split: str, src: str, tgt: str) -> tuple[list[str], list[str]]:
    sources, references = read_flores(root, split, src), read_flores(root, split, tgt)
    if len(sources) != len(references):
        raise VepoError(f"{flores_file(root, split, src)} has {len(sources)} lines but "
                        f"{flores_file(root, split, tgt)} has {len(references)}; FLORES files must be parallel")
    return sources, references
