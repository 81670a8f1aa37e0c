"""RL rollouts by vepo's static-cache generator (`rollout=static`), in the shape TRL's GRPOTrainer expects.

The rows of a rollout (each prompt repeated `num_generations` times) are sorted by prompt length and, with
`rollout.batch_size` > 0, generated in chunks of that many rows: a chunk pads only to its own longest prompt and stops
when its own rows have finished, and translations of short sentences are short. Rows come back in their original
order. Each completion carries one fp32 behaviour log-prob per token (vepo/models/static_generation.py), which the
trainer uses as the rollout's `old_per_token_logps` when the rollout ran at training's precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vepo.config.schema import RolloutConfig
from vepo.errors import VepoError
from vepo.models.static_generation import StaticCacheGenerator, cache_prompt_width

# Prompt widths are rounded up to a multiple of this when the cache is sized, so a slightly longer prompt later reuses
# the cache (and a compiled step its graph). Without compilation only a little: every decode step attends over the
# whole cache width.
PROMPT_WIDTH_STEP = {True: 64, False: 8}


@dataclass
class SamplingSettings:
    """What TRL's generation config would sample with; the static engine supports exactly these knobs."""

    max_new_tokens: int
    temperature: float
    top_p: float | None
    top_k: int | None
    eos_ids: list[int]
    pad_id: int


def length_buckets(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row indices sorted by length (stable: a prompt's generations stay together), cut into chunks of `batch_size`
    rows (one chunk when `batch_size` is 0)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    size = batch_size if batch_size > 0 else max(len(order), 1)
    return [order[i:i + size] for i in range(0, len(order), size)]


class StaticRollout:
    """Owns one `StaticCacheGenerator` (rebuilt only when the model object changes or a prompt outgrows the cache) and
    turns a list of prompt token-id lists into TRL's (completion ids, log-probs) lists."""

    def __init__(self, settings: RolloutConfig, sampling: SamplingSettings):
        self.settings = settings
        self.sampling = sampling
        self._generator: StaticCacheGenerator | None = None
        self.last_stats: dict[str, float] = {}

    def _generator_for(self, model, rows: int, longest_prompt: int) -> StaticCacheGenerator:
        g = self._generator
        if g is None or g.model is not model or g.max_prompt_len < longest_prompt or g.max_batch < rows:
            width = cache_prompt_width(longest_prompt, PROMPT_WIDTH_STEP[self.settings.compile])
            g = self._generator = StaticCacheGenerator(model, rows, width, self.sampling.max_new_tokens,
                                                       compile=self.settings.compile)
        return g

    @torch.no_grad()
    def generate(self, model, prompt_ids: list[list[int]]) -> tuple[list[list[int]], list[list[float]]]:
        if not prompt_ids:
            raise VepoError("rollout=static: no prompts to generate for")
        s = self.sampling
        chunks = length_buckets([len(p) for p in prompt_ids], self.settings.batch_size)
        generator = self._generator_for(model, len(chunks[0]), max(len(p) for p in prompt_ids))
        completions: list[list[int] | None] = [None] * len(prompt_ids)
        logprobs: list[list[float] | None] = [None] * len(prompt_ids)
        padded = real = steps = 0
        for chunk in chunks:
            ids, mask = generator.pad_prompts([prompt_ids[i] for i in chunk], s.pad_id)
            out = generator.generate(ids, mask, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                                     do_sample=True, eos_token_id=s.eos_ids, pad_token_id=s.pad_id)
            keep = out.completion_mask.bool().cpu()
            ids_cpu, logp_cpu = out.completion_ids.cpu(), out.logprobs.cpu()
            for row, i in enumerate(chunk):
                completions[i] = ids_cpu[row][keep[row]].tolist()
                logprobs[i] = logp_cpu[row][keep[row]].tolist()
            padded += ids.numel()
            real += int(mask.sum())
            steps += out.completion_ids.size(1)
        self.last_stats = {"rollout/chunks": float(len(chunks)), "rollout/decode_steps": float(steps),
                           "rollout/prompt_padding": 1.0 - real / padded}
        return completions, logprobs
