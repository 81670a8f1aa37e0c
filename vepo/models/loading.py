"""Load a causal LM and its tokenizer from an HF id or a local directory (the tiny model takes the same path)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from vepo.errors import VepoError
from vepo.models.paths import check_model_path

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def torch_dtype(name: str) -> torch.dtype:
    if name not in _DTYPES:
        raise VepoError(f"model.dtype='{name}' is not supported; use one of {', '.join(_DTYPES)}")
    return _DTYPES[name]


def load_tokenizer(path: str | Path, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    check_model_path(path)
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only generation pads on the left
    return tokenizer


def load_model(
    path: str | Path, dtype: str = "float32", device: str = "cpu", trust_remote_code: bool = False
) -> PreTrainedModel:
    check_model_path(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=torch_dtype(dtype), trust_remote_code=trust_remote_code
        )
    except OSError as exc:
        raise VepoError(f"cannot load model '{path}': {str(exc).splitlines()[0]}") from None
    return model.to(device)
