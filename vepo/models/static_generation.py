"""A standalone generation engine for decoder-only HF models: static KV cache, direct sampling, behaviour log-probs.

`StaticCacheGenerator` runs one prefill forward over left-padded prompts and then a loop of one-token decode steps
against a pre-allocated `transformers.StaticCache` (in the model's dtype unless `dtype` says otherwise), each step
addressed by `cache_position`. Sampling is written here (temperature, top-k, top-p; greedy at temperature 0 or with
`do_sample=False`) with an optional `torch.Generator` for a fixed seed; no logits-processor stack.

Log-probs. Exactly one log-prob per sampled token is returned, in fp32: `log_softmax(logits / T)` at the sampled token,
where T is the sampling temperature (T = 1 for greedy decoding). It is taken *before* top-k / top-p truncation, which
is what TRL's GRPOTrainer computes as the behaviour policy's log-prob (a forward pass over the tokens, logits divided
by the temperature, no truncation), so the returned values can stand in for TRL's `old_per_token_logps` when the
rollout precision equals training's.

Finished rows (EOS sampled) stop contributing: their later tokens are `pad_token_id`, their mask is 0 and their
log-prob 0. The loop stops once every row has finished or `max_new_tokens` tokens were generated. The EOS token itself
is part of the completion (mask 1), as in TRL.

Used by RL rollouts (`rollout=static`, vepo/training/static_rollout.py) and by `vepo eval` (`eval.engine=static`).

Compilation (`compile=True`) compiles the one-token decode step once per batch size; on CUDA with CUDA graphs
(`mode="reduce-overhead"`). The compiled step reads the model's parameters as graph inputs at their fixed storage, so
it stays valid while an optimiser updates the weights in place between rollouts (tests/test_static_rollout.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from transformers import StaticCache

from vepo.errors import VepoError


@dataclass
class GenerationOutput:
    """`completion_ids` (B, T) right-padded with the pad id, `completion_mask` (B, T) 1 for generated tokens up to and
    including EOS, `logprobs` (B, T) fp32, 0 where the mask is 0. T is the number of decode steps taken."""

    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    logprobs: torch.Tensor


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Set logits outside the top-k and outside the top-p nucleus to -inf (the most likely token always survives)."""
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = mass_before >= top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, *, temperature: float, top_k: int | None, top_p: float | None,
                do_sample: bool, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row from (B, V) logits; return (tokens (B,), fp32 log-probs (B,)) as the module doc says."""
    logits = logits.float()
    greedy = not do_sample or temperature == 0
    scaled = logits if greedy else logits / temperature
    if greedy:
        tokens = torch.argmax(logits, dim=-1)
    else:
        tokens = inverse_cdf_sample(torch.softmax(filter_logits(scaled, top_k, top_p), dim=-1), generator)
    # log_softmax at one token per row: a reduction instead of a (B, V) log-prob table.
    logp = scaled.gather(-1, tokens[:, None]).squeeze(-1) - torch.logsumexp(scaled, dim=-1)
    return tokens, logp


def inverse_cdf_sample(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One draw per row of (B, V) `probs` from one uniform number per row: the first token whose cumulative mass
    exceeds it. `torch.multinomial` draws V exponentials per row instead, which dominates a small model's CPU decode
    step. The cumulative sum is in float64 so that tokens of tiny mass keep their share near the end of a large
    vocabulary."""
    cdf = probs.double().cumsum(-1)
    u = torch.rand((probs.size(0), 1), generator=generator, device=probs.device, dtype=torch.float64)
    # right=True: a zero-mass token spans an empty interval and is never returned.
    tokens = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1).clamp(max=probs.size(-1) - 1)
    # A rounding edge (u × total landing on the total) could pick a zero-mass last token: take the mode instead.
    drawn_mass = probs.gather(-1, tokens[:, None]).squeeze(-1)
    return torch.where(drawn_mass > 0, tokens, probs.argmax(-1))


def cache_prompt_width(longest_prompt: int, multiple: int) -> int:
    """The prompt width to size a cache for: the longest prompt rounded up to `multiple`, so a slightly longer prompt
    later fits the same cache (and a compiled step keeps its graph); every decode step attends over the whole width."""
    return -(-longest_prompt // multiple) * multiple


class StaticCacheGenerator:
    """Generation with a pre-allocated static KV cache for up to `max_batch` prompts of up to `max_prompt_len` tokens
    and `max_new_tokens` new tokens. One cache is allocated per batch size seen (a length-bucketed rollout has at most
    two: its full chunks and the remainder) and reused (zeroed) between calls."""

    def __init__(self, model, max_batch: int, max_prompt_len: int, max_new_tokens: int,
                 dtype: torch.dtype | None = None, compile: bool = False):
        if max_batch < 1 or max_prompt_len < 1 or max_new_tokens < 1:
            raise VepoError("StaticCacheGenerator: max_batch, max_prompt_len and max_new_tokens must be >= 1")
        self.model = model
        self.max_batch = max_batch
        self.max_prompt_len = max_prompt_len
        self.max_new_tokens = max_new_tokens
        self.max_cache_len = max_prompt_len + max_new_tokens
        self.dtype = dtype or next(model.parameters()).dtype
        self.device = next(model.parameters()).device
        self._caches: dict[int, StaticCache] = {}
        self._decode = self._decode_step
        self.compiled = compile
        if compile:
            # CUDA graphs on GPU: a decode step is one graph replay instead of hundreds of kernel launches.
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            try:
                self._decode = torch.compile(self._decode_step, dynamic=False, fullgraph=False, mode=mode)
            except Exception as exc:  # e.g. an unsupported Python for dynamo
                raise VepoError(f"StaticCacheGenerator(compile=True): torch.compile is unavailable: {exc}") from exc

    # -- cache --------------------------------------------------------------------------------------------------
    def _allocate(self, batch: int) -> StaticCache:
        cfg = self.model.config.get_text_config(decoder=True)
        cache = StaticCache(config=self.model.config, max_cache_len=self.max_cache_len)
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        num_kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        if hasattr(cache, "early_initialization"):
            cache.early_initialization(batch, num_kv, head_dim, self.dtype, self.device)
        return cache

    def _cache_for(self, batch: int) -> StaticCache:
        cache = self._caches.get(batch)
        if cache is None:
            cache = self._caches[batch] = self._allocate(batch)
        else:
            cache.reset()
        return cache

    # -- forward steps ------------------------------------------------------------------------------------------
    def _decode_step(self, tokens, attention_mask, position_ids, cache_position, cache):
        out = self.model(input_ids=tokens, attention_mask=attention_mask, position_ids=position_ids,
                         cache_position=cache_position, past_key_values=cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1, :]

    # -- public -------------------------------------------------------------------------------------------------
    def pad_prompts(self, prompts: Iterable[Iterable[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad lists of token ids into (input_ids, attention_mask)."""
        rows = [list(p) for p in prompts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            if r:
                ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
                mask[i, width - len(r):] = 1
        return ids, mask

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                 max_new_tokens: int | None = None, temperature: float = 1.0, top_p: float | None = None,
                 top_k: int | None = None, do_sample: bool = True, eos_token_id: int | list[int] | None = None,
                 pad_token_id: int | None = None, generator: torch.Generator | None = None) -> GenerationOutput:
        """Generate for left-padded `input_ids` (B, P) with `attention_mask` (B, P) (all ones if omitted)."""
        batch, prompt_len = input_ids.shape
        if batch > self.max_batch:
            raise VepoError(f"StaticCacheGenerator: batch {batch} > max_batch {self.max_batch}")
        if prompt_len > self.max_prompt_len:
            raise VepoError(f"StaticCacheGenerator: prompt length {prompt_len} > max_prompt_len {self.max_prompt_len}")
        new = self.max_new_tokens if max_new_tokens is None else max_new_tokens
        if not 1 <= new <= self.max_new_tokens:
            raise VepoError(f"StaticCacheGenerator: max_new_tokens must be in [1, {self.max_new_tokens}], got {new}")
        if temperature < 0:
            raise VepoError(f"StaticCacheGenerator: temperature must be >= 0, got {temperature}")
        gen_cfg = getattr(self.model, "generation_config", None)
        if eos_token_id is None and gen_cfg is not None:
            eos_token_id = gen_cfg.eos_token_id
        if pad_token_id is None:
            pad_token_id = getattr(gen_cfg, "pad_token_id", None)
        if eos_token_id is None:
            eos_ids = []
        else:
            eos_ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        if pad_token_id is None:
            pad_token_id = eos_ids[0] if eos_ids else 0
        dev = self.device
        input_ids = input_ids.to(dev)
        attention_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(dev).long()
        eos = torch.tensor(eos_ids, dtype=torch.long, device=dev)
        pick = dict(temperature=temperature, top_k=top_k, top_p=top_p, do_sample=do_sample, generator=generator)

        cache = self._cache_for(batch)
        # The full-width mask buffer: prompt mask, then 1 for each generated slot (finished rows keep attending; their
        # outputs are discarded).
        # Always the cache's full width, so a compiled decode step sees one shape.
        full_mask = torch.zeros((batch, self.max_cache_len), dtype=torch.long, device=dev)
        full_mask[:, :prompt_len] = attention_mask
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            cache_position=torch.arange(prompt_len, device=dev), past_key_values=cache,
                            use_cache=True, logits_to_keep=1).logits[:, -1, :]
        next_pos = position_ids[:, -1:] + 1

        out_ids = torch.full((batch, new), pad_token_id, dtype=torch.long, device=dev)
        out_mask = torch.zeros((batch, new), dtype=torch.long, device=dev)
        out_logp = torch.zeros((batch, new), dtype=torch.float32, device=dev)
        alive = torch.ones(batch, dtype=torch.bool, device=dev)
        steps = 0
        for step in range(new):
            tokens, logp = sample_next(logits, **pick)
            out_ids[:, step] = torch.where(alive, tokens, torch.full_like(tokens, pad_token_id))
            out_mask[:, step] = alive.long()
            out_logp[:, step] = torch.where(alive, logp, torch.zeros_like(logp))
            steps = step + 1
            if eos.numel():
                alive = alive & ~torch.isin(tokens, eos)
            if step == new - 1 or not bool(alive.any()):
                break
            full_mask[:, prompt_len + step] = 1
            cache_position = torch.tensor([prompt_len + step], device=dev)
            if self.compiled and dev.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()  # the previous step's logits are consumed
            logits = self._decode(out_ids[:, step:step + 1], full_mask, next_pos, cache_position, cache)
            next_pos = next_pos + 1
        return GenerationOutput(out_ids[:, :steps].clone(), out_mask[:, :steps].clone(), out_logp[:, :steps].clone())
