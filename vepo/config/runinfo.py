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


EVAL_CONFIG = "eval_config.yaml"  # the resolved config `vepo eval` keeps beside its results


def resolved_config(run_dir: Path) -> dict:
    """`config.yaml` (vepo train writes the resolved config there), `eval_config.yaml` (vepo eval keeps it beside its
    results, also with output_dir=...), else Hydra's `.hydra/config.yaml`; {} if none."""
    for path in (run_dir / "config.yaml", run_dir / EVAL_CONFIG, run_dir / ".hydra" / "config.yaml"):
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


# What each command leaves at the top of its directory: a train run's own files, and an evaluation's results.
TRAIN_MARKERS = ("config.yaml", "metrics.jsonl", "sft_metrics.jsonl", "checkpoint", "trainer", "models")
EVAL_MARKERS = ("results", "summary.json", "hyps", "cache/segments.jsonl", EVAL_CONFIG)


def run_kind(run_dir: Path) -> str | None:
    """"train" (a `vepo train` run, finished or not), "eval" (`vepo eval` results) or None (nothing of either)."""
    if any((run_dir / name).exists() for name in TRAIN_MARKERS):
        return "train"
    if any((run_dir / name).exists() for name in EVAL_MARKERS):
        return "eval"
    return None


def _covered(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def config_differences(saved: dict, new: dict, may_differ: tuple[str, ...]) -> list[tuple[str, Any, Any]]:
    """(key, saved value, new value) for every dotted key whose value differs, except keys under `may_differ`."""
    before, after = flatten(saved), flatten(new)
    keys = list(after) + [k for k in before if k not in after]
    return [(k, before.get(k), after.get(k)) for k in keys
            if not _covered(k, may_differ) and before.get(k) != after.get(k)]


def describe_differences(differences: list[tuple[str, Any, Any]], limit: int = 4) -> str:
    """"algo.name: grpo -> dapo, seed: 1 -> 2 (and 3 more)"."""
    shown = [f"{k}: {old!r} -> {new!r}" if isinstance(old, str) or isinstance(new, str) else f"{k}: {old} -> {new}"
             for k, old, new in differences[:limit]]
    rest = len(differences) - limit
    return ", ".join(shown) + (f" (and {rest} more)" if rest > 0 else "")
