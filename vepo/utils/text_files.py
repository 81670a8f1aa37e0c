"""Reading user text files line by line, with non-UTF-8 bytes reported by file and line."""

from __future__ import annotations

from pathlib import Path

from vepo.errors import VepoError


def read_utf8_lines(path: Path) -> list[str]:
    """Lines without their newline; a final newline does not make an extra empty line."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise VepoError(f"{path}:{line}: not valid UTF-8 (byte {exc.start}); re-encode the file as UTF-8") from None
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]
