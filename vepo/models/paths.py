"""Model-path checks that need no heavy imports (run before any job starts)."""

from __future__ import annotations

from pathlib import Path

from vepo.errors import VepoError


def check_model_path(path: str | Path) -> None:
    """A path-looking model that does not exist, or a directory that is not a checkpoint, is a user error.
    Anything else is taken as a Hugging Face hub id (`org/name`)."""
    local = Path(path)
    looks_local = str(path).startswith((".", "/", "~")) or local.exists() or str(path).count("/") != 1
    if looks_local and not local.exists():
        raise VepoError(f"model path '{path}' does not exist; pass model.path=<HF id or checkpoint directory>")
    if local.is_dir() and not (local / "config.json").exists() and not is_adapter_dir(local):
        raise VepoError(f"'{path}' is not a model checkpoint (no config.json or adapter_config.json); pass a "
                        f"directory saved by vepo train")


def is_adapter_dir(path: str | Path) -> bool:
    """A PEFT (LoRA) adapter checkpoint: adapters only, the base model named in adapter_config.json."""
    local = Path(path)
    return (local / "adapter_config.json").is_file() and not (local / "config.json").is_file()
