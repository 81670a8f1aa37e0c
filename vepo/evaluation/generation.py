"""Batched greedy generation with a Hugging Face model (length-sorted batches, left padding, progress bar)."""

from __future__ import annotations

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vepo.data.prompts import clean_hypothesis


@torch.no_grad()
def generate_translations(
    model, tokenizer, prompts: list[str], batch_size: int = 64, max_new_tokens: int = 64,
    description: str = "translating", show_progress: bool = True,
) -> list[str]:
    """Greedy decoding; returns cleaned hypotheses in the order of `prompts`."""
    model.eval()
    tokenizer.padding_side = "left"
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])  # similar lengths share a batch: less padding
    outputs: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        disable=not show_progress, transient=True)
    with progress:
        task = progress.add_task(description, total=len(prompts))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=model.generation_config.eos_token_id,
            )
            texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            for i, text in zip(idx, texts):
                outputs[i] = clean_hypothesis(text)
            progress.advance(task, len(idx))
    return outputs
