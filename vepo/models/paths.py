"""Model-path checks that need no heavy imports (run before any job starts): the path exists and is a checkpoint,
its config.json parses and its safetensors files are whole; a Hub id is cached or downloadable (vepo/models/hub.py)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from vepo.errors import VepoError

_DAMAGED_HINT = "the checkpoint is damaged: save or download it again"


def check_model_path(path: str | Path) -> None:
    """A path-looking model that does not exist, or a directory that is not a checkpoint, is a user error.
    Anything else is taken as a Hugging Face hub id (`org/name`): it must be in the cache or downloadable."""
    local = Path(path)
    looks_local = str(path).startswith((".", "/", "~")) or local.exists() or str(path).count("/") != 1
    if looks_local and not local.exists():
        raise VepoError(f"model path '{path}' does not exist; pass model.path=<HF id or checkpoint directory>")
    if local.is_dir() and not (local / "config.json").exists() and not is_adapter_dir(local):
        raise VepoError(f"'{path}' is not a model checkpoint (no config.json or adapter_config.json); pass a "
                        f"directory saved by vepo train")
    if local.is_dir():
        check_checkpoint_files(local)
    elif not looks_local:
        from vepo.models.hub import check_hub_model

        snapshot = check_hub_model(str(path))
        if snapshot is not None:
            check_checkpoint_files(snapshot)


def check_checkpoint_files(directory: Path) -> None:
    """Config files parse as JSON and each safetensors file holds every byte its header promises (a copy or
    download cut short is caught here, in one line, instead of as a deserialisation traceback)."""
    for name in ("config.json", "adapter_config.json", "model.safetensors.index.json"):
        path = directory / name
        if path.is_file():
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise VepoError(f"{path} is not valid JSON ({exc}); {_DAMAGED_HINT}") from None
    for path in sorted(directory.glob("*.safetensors")):
        problem = safetensors_problem(path)
        if problem:
            raise VepoError(f"{path} {problem}; {_DAMAGED_HINT}")


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file, from its header alone (8-byte length, JSON header, tensor offsets),
    or None when it is whole."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"is truncated ({size} bytes)"
        length = struct.unpack("<Q", head)[0]
        if 8 + length > size:
            return f"is truncated ({size} bytes, its header alone needs {8 + length})"
        try:
            header = json.loads(f.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            header = None
    if not isinstance(header, dict):
        return "has an unreadable header"
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    needed = 8 + length + max(ends, default=0)
    if needed > size:
        return f"is truncated ({size} of {needed} bytes)"
    return None


def is_adapter_dir(path: str | Path) -> bool:
    """A PEFT (LoRA) adapter checkpoint: adapters only, the base model named in adapter_config.json."""
    local = Path(path)
    return (local / "adapter_config.json").is_file() and not (local / "config.json").is_file()
