"""Generation engines: Hugging Face transformers (always), vepo's static-cache generator (`static`, the first piece of
the fast path: vepo/models/static_generation.py) and vLLM (when installed), with the same interface.

`generate(prompts, on_batch)` returns one cleaned hypothesis per prompt, in prompt order; `on_batch(indices,
hypotheses, new_tokens)` is called as batches finish (progress, and the partial cache that makes runs resumable).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch

from vepo.config.schema import EvalSettings
from vepo.data.prompts import clean_hypothesis
from vepo.errors import VepoError

ENGINES = ("hf", "static", "vllm")
BatchCallback = Callable[[list[int], list[str], int], None]


class GenerationEngine(Protocol):
    name: str

    def generate(self, prompts: list[str], on_batch: BatchCallback | None = None,
                 sort_by_length: bool = True) -> list[str]: ...


def _stop_ids(model, tokenizer) -> list[int]:
    """End of sequence for generation: the model's configured EOS ids plus the tokenizer's (chat models end turns
    with a token that is not always in generation_config)."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


class HFEngine:
    """Batched `model.generate` with left padding; batches hold prompts of similar token length."""

    name = "hf"

    def __init__(self, model, tokenizer, settings: EvalSettings) -> None:
        self.model, self.tokenizer, self.settings = model, tokenizer, settings
        self.model.eval()
        self.tokenizer.padding_side = "left"
        self.eos_ids = _stop_ids(model, tokenizer)

    def _sampling(self) -> dict:
        s = self.settings
        if not s.do_sample:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": s.temperature, "top_p": s.top_p}

    @torch.no_grad()
    def generate(self, prompts: list[str], on_batch: BatchCallback | None = None,
                 sort_by_length: bool = True) -> list[str]:
        if not prompts:
            return []
        encoded = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        order = list(range(len(prompts)))
        if sort_by_length:  # longest first: an out-of-memory batch shows up at once, not at the end
            order.sort(key=lambda i: -len(encoded[i]))
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id
        outputs = [""] * len(prompts)
        bs = self.settings.batch_size
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt").to(device)
            new = self._new_tokens(batch)
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            hyps = [clean_hypothesis(t) for t in texts]
            for i, h in zip(idx, hyps):
                outputs[i] = h
            if on_batch is not None:
                on_batch(idx, hyps, int((new != pad).sum()) if pad is not None else new.numel())
        return outputs

    def _new_tokens(self, batch) -> torch.Tensor:
        """The generated ids (B, T) of one left-padded batch, padded with pad_token_id after EOS."""
        out = self.model.generate(**batch, max_new_tokens=self.settings.max_new_tokens,
                                  pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.eos_ids,
                                  **self._sampling())
        return out[:, batch["input_ids"].shape[1]:]


class StaticCacheEngine(HFEngine):
    """The same batches as `hf`, decoded by vepo's static-cache generator: a pre-allocated KV cache sized for the
    batch's prompt width (rounded up to 8) plus the new tokens, sampling without a logits-processor stack. Greedy
    outputs equal `hf`'s. Every decode step attends over the whole cache, so a batch of short prompts gets a narrow
    cache of its own (batches come longest first: one cache at a time, replaced as the width shrinks)."""

    name = "static"

    def __init__(self, model, tokenizer, settings: EvalSettings) -> None:
        super().__init__(model, tokenizer, settings)
        self._generator = None

    def _new_tokens(self, batch) -> torch.Tensor:
        from vepo.models.static_generation import StaticCacheGenerator, cache_prompt_width

        width = cache_prompt_width(batch["input_ids"].shape[1], 8)
        g = self._generator
        if g is None or g.max_prompt_len != width:
            self._generator = None  # free the wider cache before allocating the next one
            g = self._generator = StaticCacheGenerator(self.model, self.settings.batch_size, width,
                                                       self.settings.max_new_tokens)
        s = self.settings
        out = g.generate(batch["input_ids"], batch["attention_mask"], do_sample=s.do_sample,
                         temperature=s.temperature, top_p=s.top_p if s.do_sample else None,
                         eos_token_id=self.eos_ids, pad_token_id=self.tokenizer.pad_token_id)
        return out.completion_ids


class VLLMEngine:
    """vLLM offline generation (continuous batching: vLLM schedules the prompts itself)."""

    name = "vllm"

    def __init__(self, model_path: str | Path, settings: EvalSettings, dtype: str = "bfloat16",
                 trust_remote_code: bool = False, seed: int = 0) -> None:
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise VepoError("eval.engine=vllm needs vLLM: run with `uv run --extra vllm vepo eval ...` (the locked vLLM "
                            "extra) on a Linux GPU machine, or use eval.engine=hf") from None
        self.settings = settings
        self.llm = LLM(model=str(model_path), dtype=dtype, trust_remote_code=trust_remote_code, seed=seed)
        temperature = settings.temperature if settings.do_sample else 0.0
        self.params = SamplingParams(max_tokens=settings.max_new_tokens, temperature=temperature,
                                     top_p=settings.top_p if settings.do_sample else 1.0, seed=seed)

    def generate(self, prompts: list[str], on_batch: BatchCallback | None = None,
                 sort_by_length: bool = True) -> list[str]:
        outputs = [""] * len(prompts)
        step = max(self.settings.batch_size * 8, 1)  # chunks only for progress and the partial cache
        for start in range(0, len(prompts), step):
            idx = list(range(start, min(start + step, len(prompts))))
            results = self.llm.generate([prompts[i] for i in idx], self.params, use_tqdm=False)
            hyps = [clean_hypothesis(r.outputs[0].text) for r in results]
            for i, h in zip(idx, hyps):
                outputs[i] = h
            if on_batch is not None:
                on_batch(idx, hyps, sum(len(r.outputs[0].token_ids) for r in results))
        return outputs


def check_engine(name: str) -> None:
    if name not in ENGINES:
        raise VepoError(f"eval.engine='{name}' is not one of {', '.join(ENGINES)}")
