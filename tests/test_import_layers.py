"""The packages form layers: a module imports only its own package and the packages below it (lazy imports inside
functions included), so `vepo/config` can be read, and reused, without the training stack."""

from __future__ import annotations

import ast
from pathlib import Path

import vepo

# Bottom first. cli is the thin shell on top; reporting (vepo compare) reads what training and evaluation write.
LAYERS = ["errors", "utils", "config", "data", "models", "objectives", "rewards", "tokenization", "evaluation",
          "training", "reporting", "cli"]
PACKAGE = Path(vepo.__file__).parent


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "vepo" and "." in name]


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert packages == set(LAYERS), "give the new package a place in LAYERS"


def test_no_module_imports_a_package_above_it():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        own = parts[0]
        if own not in rank:  # vepo/__init__.py, vepo/__main__.py: entry points
            continue
        for line, name in _imports(path):
            target = name.split(".")[1]
            if rank.get(target, -1) > rank[own]:
                upward.append(f"vepo/{'/'.join(parts)}.py:{line} imports {name}")
    assert not upward, "\n".join(upward)
