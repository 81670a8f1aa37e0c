"""What every result file records: vepo version, git commit, config hash."""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from vepo import __version__


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the vepo source tree, or None outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def config_hash(config: dict[str, Any]) -> str:
    """Stable short hash of a resolved config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def provenance(config: dict[str, Any] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"vepo_version": __version__, "git_commit": git_commit()}
    if config is not None:
        info["config_hash"] = config_hash(config)
    return info
