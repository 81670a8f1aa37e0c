"""The repository is self-contained: no tracked file points at design documents outside it, and every
docs/design/... path (and quoted section of a design document) that a tracked file names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Built from pieces so that this file does not match its own patterns.
FORBIDDEN = [
    ".." + "/shared",
    "shared" + "/design",
    *(name + ".md" for name in ("ARCHITECTURE", "ALGORITHMS", "EVALUATION")),
]
DESIGN_PATH = re.compile(r"docs/design/[A-Za-z0-9_./-]*")
# `docs/design/<file>.md "Section"`: the quoted text must be a heading of that file.
DESIGN_SECTION = re.compile(r'docs/design/([a-z_]+\.md)[`)]?\s+"([^"\n]+)"')


def _tracked_texts() -> dict[str, str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    texts = {}
    for rel in filter(None, out.split("\0")):
        path = ROOT / rel
        if rel == "uv.lock" or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary
            continue
        texts[rel] = data.decode("utf-8", errors="replace")
    return texts


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return _tracked_texts()


def test_no_reference_outside_the_repo(texts):
    hits = [
        f"{rel}:{text.count(chr(10), 0, text.find(pattern)) + 1}: {pattern}"
        for rel, text in texts.items()
        for pattern in FORBIDDEN
        if pattern in text
    ]
    assert not hits, "tracked files point outside the repository:\n" + "\n".join(hits)


def test_design_documents_exist():
    for name in ("architecture.md", "algorithms.md", "evaluation.md"):
        assert (ROOT / "docs" / "design" / name).is_file(), name


def test_every_design_path_exists(texts):
    missing = []
    for rel, text in texts.items():
        for match in DESIGN_PATH.finditer(text):
            path = match.group(0).rstrip(".")
            if not (ROOT / path).exists():
                missing.append(f"{rel}: {path}")
    assert not missing, "references to design paths that do not exist:\n" + "\n".join(missing)


def _headings(name: str) -> list[str]:
    text = (ROOT / "docs" / "design" / name).read_text(encoding="utf-8")
    return [line.lstrip("#").strip().lower() for line in text.splitlines() if line.startswith("#")]


def test_every_quoted_design_section_exists(texts):
    missing = []
    for rel, text in texts.items():
        for match in DESIGN_SECTION.finditer(text):
            name, section = match.groups()
            if not (ROOT / "docs" / "design" / name).is_file():
                continue  # reported by test_every_design_path_exists
            if not any(section.lower() in heading for heading in _headings(name)):
                missing.append(f'{rel}: docs/design/{name} "{section}"')
    assert not missing, "quoted sections missing from the design documents:\n" + "\n".join(missing)
