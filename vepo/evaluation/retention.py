"""Retention ("alignment tax"): how much of a reference model's general-domain language modelling a trained model
keeps. On a held-out text file, both models score the same token chunks; vepo reports each model's mean NLL per
token (and perplexity) and the mean token-level KL(model || reference) over next-token distributions."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from vepo.config.schema import ModelConfig, RetentionConfig
from vepo.errors import VepoError


def _chunks(ids: list[int], length: int, max_chunks: int | None) -> list[list[int]]:
    chunks = [ids[i:i + length] for i in range(0, len(ids), length)]
    chunks = [c for c in chunks if len(c) >= 2]  # a chunk needs one predicted token
    return chunks[:max_chunks] if max_chunks else chunks


@torch.no_grad()
def retention_scores(model, reference, chunks: list[list[int]], device: str) -> dict:
    nll_sum = ref_nll_sum = kl_sum = 0.0
    tokens = 0
    for chunk in chunks:
        ids = torch.tensor([chunk], device=device)
        logp = F.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
        ref_logp = F.log_softmax(reference(ids).logits[0, :-1].float(), dim=-1)
        target = ids[0, 1:]
        nll_sum -= logp.gather(-1, target[:, None]).sum().item()
        ref_nll_sum -= ref_logp.gather(-1, target[:, None]).sum().item()
        kl_sum += (logp.exp() * (logp - ref_logp)).sum().item()  # KL(model || reference), summed over positions
        tokens += target.numel()
    return {"tokens": tokens, "nll": nll_sum / tokens, "reference_nll": ref_nll_sum / tokens,
            "perplexity": math.exp(nll_sum / tokens), "reference_perplexity": math.exp(ref_nll_sum / tokens),
            "kl_model_reference": kl_sum / tokens}


def check_retention_config(retention: RetentionConfig) -> None:
    if not retention.text_file:
        raise VepoError("suite=retention needs retention.text_file=<held-out general-domain text>")
    if not Path(retention.text_file).expanduser().is_file():
        raise VepoError(f"retention.text_file='{retention.text_file}' does not exist")
    if not retention.reference:
        raise VepoError("suite=retention needs retention.reference=<base model id or directory> to compare with")


def run_retention(model_path: str, model_cfg: ModelConfig, retention: RetentionConfig, device: str) -> dict:
    from vepo.models.loading import load_model, load_tokenizer
    from vepo.utils.text_files import read_utf8_lines

    check_retention_config(retention)
    tokenizer = load_tokenizer(model_path, model_cfg.trust_remote_code)
    ref_tokenizer = load_tokenizer(retention.reference, model_cfg.trust_remote_code)
    if tokenizer.get_vocab() != ref_tokenizer.get_vocab():
        raise VepoError(f"model '{model_path}' and retention.reference '{retention.reference}' have different "
                        f"vocabularies; token-level KL needs the same tokenizer")
    text = "\n".join(read_utf8_lines(Path(retention.text_file).expanduser()))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    chunks = _chunks(ids, retention.max_length, retention.max_chunks)
    if not chunks:
        raise VepoError(f"retention.text_file='{retention.text_file}' has too little text (needs >= 2 tokens)")
    model = load_model(model_path, model_cfg.dtype, device, model_cfg.trust_remote_code).eval()
    reference = load_model(retention.reference, model_cfg.dtype, device, model_cfg.trust_remote_code).eval()
    scores = retention_scores(model, reference, chunks, device)
    return {"model": str(model_path), "reference": str(retention.reference), "text_file": str(retention.text_file),
            "chunks": len(chunks), "max_length": retention.max_length, **scores}
