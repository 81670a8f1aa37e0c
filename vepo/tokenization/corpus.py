"""Plain-text corpora for extend-vocab: one sentence per line, UTF-8; a deterministic held-out split."""

from __future__ import annotations

import random
from pathlib import Path

from vepo.errors import VepoError


def as_paths(value, key: str) -> list[Path]:
    """A config value that names one file or a list of them."""
    if value is None or value == "" or (isinstance(value, (list, tuple)) and not value):
        raise VepoError(f"{key} names no file; pass {key}=<text file> or {key}=[a.txt,b.txt]")
    items = [value] if isinstance(value, (str, Path)) else list(value)
    paths = [Path(str(v)).expanduser() for v in items]
    for path in paths:
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise VepoError(f"{key} file '{path}' {what}; pass a UTF-8 text file with one sentence per line")
    return paths


def read_lines(paths: list[Path], key: str) -> list[str]:
    """Non-blank lines of all files, in order; a file that is not UTF-8, or no text at all, is a user error."""
    lines: list[str] = []
    for path in paths:
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise VepoError(f"{path}:{line}: not valid UTF-8; re-encode the {key} file as UTF-8") from None
        lines += [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        names = ", ".join(str(p) for p in paths)
        raise VepoError(f"{key} is empty: no text in {names}; give target-language text, one sentence per line")
    return lines


def split_heldout(lines: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, held-out): a seeded random `fraction` of the lines (at least one) is held out, order kept."""
    if len(lines) < 2:
        raise VepoError(f"the corpus has {len(lines)} line; holding out text needs at least 2 lines "
                        f"(or pass heldout=<text file>)")
    k = min(len(lines) - 1, max(1, round(fraction * len(lines))))
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    held = set(order[:k])
    return [ln for i, ln in enumerate(lines) if i not in held], [ln for i, ln in enumerate(lines) if i in held]
