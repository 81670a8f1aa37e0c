"""Row labels: the config values that differ between systems (`algo=espo seed=2`), else the directory name.

Overrides (`.hydra/overrides.yaml`) are read first because they are what the researcher typed; a system that did not
override a key gets its value from its resolved config, so `seed=1` vs the default reads `seed=1` / `seed=42`.
When the overrides do not tell the systems apart, the flattened resolved configs are compared instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from vepo.errors import VepoError
from vepo.reporting.results import System
from vepo.config.runinfo import flatten, overrides, select

_IGNORED_PREFIXES = ("hydra", "output")  # never what tells two systems apart
SEED_KEY = "seed"
MAX_LABEL_KEYS = 4  # longer labels stop being readable row names; labels=[...] names systems by hand


def _parse_override(text: str) -> Optional[tuple[str, str]]:
    body = text.lstrip("+~")
    if "=" not in body:
        return None
    key, value = body.split("=", 1)
    return None if key.startswith(_IGNORED_PREFIXES) else (key, value)


def _display(value: Any) -> str:
    if isinstance(value, dict):  # a config group: its option name
        value = value.get("name", "{...}")
    text = "null" if value is None else str(value)
    if "/" in text:  # paths: the last two components say enough
        text = "/".join(Path(text).parts[-2:])
    return text


def _has(config: dict, dotted: str) -> bool:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _override_parts(systems: list[System]) -> list[dict[str, str]]:
    parsed = [dict(p for p in map(_parse_override, overrides(s.path)) if p) for s in systems]
    keys: list[str] = []
    for ov in parsed:
        keys.extend(k for k in ov if k not in keys)
    # a key some system does not have at all (train.* for an eval directory) says what kind of run it is, not
    # which configuration: only keys every system has can label them
    keys = [k for k in keys if all(k in ov or _has(s.config, k) for ov, s in zip(parsed, systems))]
    values = {k: [_display(ov[k]) if k in ov else _display(select(s.config, k)) for ov, s in zip(parsed, systems)]
              for k in keys}
    differing = [k for k in keys if len(set(values[k])) > 1]
    return [{k: values[k][i] for k in differing} for i in range(len(systems))]


def _config_parts(systems: list[System]) -> list[dict[str, str]]:
    flats = [{k: v for k, v in flatten(s.config).items() if not k.startswith(_IGNORED_PREFIXES)} for s in systems]
    keys: list[str] = []
    for flat in flats:
        keys.extend(k for k in flat if k not in keys)
    differing = [k for k in keys if all(k in f for f in flats) and len({repr(f[k]) for f in flats}) > 1]
    # a group whose option name differs is labelled by that name alone (algo=espo, not every algo.params.* key)
    groups = [k[: -len(".name")] for k in differing if k.endswith(".name")]
    shown: list[str] = []
    for k in differing:
        group = next((g for g in groups if k == g + ".name" or k.startswith(g + ".")), None)
        name = group if group is not None else k
        if name not in shown:
            shown.append(name)
    parts = []
    for flat in flats:
        parts.append({k: _display(flat.get(k + ".name") if k in groups else flat.get(k)) for k in shown})
    return parts


def _ordered(parts: dict[str, str]) -> dict[str, str]:
    """Config groups first (algo=espo), then dotted keys, seed last; otherwise in order of appearance."""
    rank = {k: (2 if k == SEED_KEY else 1 if "." in k else 0, i) for i, k in enumerate(parts)}
    return {k: parts[k] for k in sorted(parts, key=rank.__getitem__)}


def _text(parts: dict[str, str]) -> str:
    """At most MAX_LABEL_KEYS key=value pairs (the seed kept), '…' when some were left out."""
    keys = list(parts)
    if len(keys) > MAX_LABEL_KEYS:
        seed = [SEED_KEY] if SEED_KEY in parts else []
        keys = [k for k in keys if k != SEED_KEY][: MAX_LABEL_KEYS - len(seed)] + seed
    text = " ".join(f"{k}={parts[k]}" for k in keys)
    return text + " …" if len(keys) < len(parts) else text


def _fallback_name(system: System) -> str:
    path = system.path
    return f"{Path(system.dir.origin).name}/{path.name}" if path.name.isdigit() else path.name


def label_parts(systems: list[System]) -> list[dict[str, str]]:
    """Per system, the differing config keys and their values (groups first, seed last)."""
    parts = _override_parts(systems)
    if not any(parts):
        parts = _config_parts(systems) if all(s.config for s in systems) else [{} for _ in systems]
    return [_ordered(p) for p in parts]


def assign_labels(systems: list[System], explicit: Optional[list[str]] = None) -> list[dict[str, str]]:
    """Set `system.label` for every system; returns the label parts (used to group seeds)."""
    parts = label_parts(systems)
    if explicit is not None:
        if len(explicit) != len(systems):
            raise VepoError(f"labels: {len(explicit)} labels for {len(systems)} systems; give one per system in "
                            f"order ({', '.join(str(s.path) for s in systems)})")
        names = [str(x) for x in explicit]
    else:
        names = [_text(p) or _fallback_name(s) for p, s in zip(parts, systems)]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    for system, name in zip(systems, names):
        system.label = f"{name} [{system.path.name}]" if counts[name] > 1 else name
    return parts


def seed_group(parts: dict[str, str]) -> str:
    """The label without its seed: runs that share it are seeds of one configuration."""
    return " ".join(f"{k}={v}" for k, v in parts.items() if k != SEED_KEY)
