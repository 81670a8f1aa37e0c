"""Load a causal LM and its tokenizer from an HF id or a local directory (the tiny model takes the same path)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from vepo.errors import VepoError
from vepo.models.paths import check_model_path, is_adapter_dir

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_dtype(name: str) -> torch.dtype:
    if name not in _DTYPES:
        raise VepoError(f"model.dtype='{name}' is not supported; use one of {', '.join(_DTYPES)}")
    return _DTYPES[name]


def adapter_base(path: str | Path) -> str:
    """The base model an adapter checkpoint was trained on (adapter_config.json)."""
    config = json.loads((Path(path) / "adapter_config.json").read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise VepoError(f"{path}/adapter_config.json names no base_model_name_or_path; cannot load the adapters")
    return base


@contextmanager
def _one_line_errors(what: str, source: str | Path) -> Iterator[None]:
    """What transformers raises for a model it cannot read (missing or damaged files, an unknown architecture)
    becomes one line naming the model."""
    from safetensors import SafetensorError

    try:
        yield
    except (OSError, ValueError, SafetensorError) as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise VepoError(f"cannot load the {what} of '{source}': {first}") from None


def load_tokenizer(path: str | Path, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    check_model_path(path)
    source = path
    if is_adapter_dir(path) and not (Path(path) / "tokenizer_config.json").is_file():
        source = adapter_base(path)  # adapters saved without a tokenizer use the base model's
        check_model_path(source)
    with _one_line_errors("tokenizer", source):
        tokenizer = AutoTokenizer.from_pretrained(str(source), trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only generation pads on the left
    return tokenizer


def load_model(
    path: str | Path, dtype: str = "float32", device: str = "cpu", trust_remote_code: bool = False
) -> PreTrainedModel:
    """A causal LM; an adapter (LoRA) checkpoint is loaded onto its base model and merged for inference."""
    check_model_path(path)
    adapters = is_adapter_dir(path)
    source = adapter_base(path) if adapters else path
    if adapters:
        check_model_path(source)
    with _one_line_errors("model", source):
        model = AutoModelForCausalLM.from_pretrained(
            str(source), dtype=torch_dtype(dtype), trust_remote_code=trust_remote_code
        )
    if adapters:
        from peft import PeftModel

        with _one_line_errors("adapters", path):
            model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    return model.to(device)
