"""What a run directory says about itself: its resolved config and its command-line overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vepo.errors import VepoError


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VepoError(f"{path}: not readable YAML ({first})") from None


def resolved_config(run_dir: Path) -> dict:
    """`config.yaml` (vepo train writes the resolved config there), else Hydra's `.hydra/config.yaml`; {} if none."""
    for path in (run_dir / "config.yaml", run_dir / ".hydra" / "config.yaml"):
        if path.is_file():
            data = _read_yaml(path)
            return data if isinstance(data, dict) else {}
    return {}


def overrides(run_dir: Path) -> list[str]:
    """The run's command-line overrides (`.hydra/overrides.yaml`), [] if none were recorded."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    data = _read_yaml(path)
    return [str(x) for x in data] if isinstance(data, list) else []


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """{"algo": {"name": "espo"}} -> {"algo.name": "espo"}; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def select(config: dict, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
