"""vepo's GRPO trainer: TRL's GRPOTrainer does rollouts, rewards and advantages; vepo's objective owns the loss.

What the objective gets is decided by its `needs()` record alone: the rollout top-K log-probs of DPPO's top-K
divergences, the reference-translation tokens of EGSPO's hybrid SFT term, an entropy with gradient, the rarity
table. Beyond that the trainer adds DAPO's dynamic sampling, the per-bucket diagnostics of every objective
(vepo/objectives/diagnostics.py), and one reduction of the objective metrics over all processes before anything
(log, controllers) reads them.
"""

from __future__ import annotations

import random
import time

import torch
import torch.distributed as dist
from trl import GRPOTrainer

from vepo.config.schema import AlgoTrainerConfig, RolloutConfig
from vepo.data.prompts import make_completion
from vepo.objectives import PolicyBatch
from vepo.objectives.diagnostics import bucket_diagnostics
from vepo.objectives.rarity import lookup_ids
from vepo.training.batch_rows import concat_rows, degenerate_groups, select_rows
from vepo.training.callbacks import rollout_cycle
from vepo.training.static_rollout import SamplingSettings, StaticRollout


# Top-K log-probabilities of the sampling distribution (DPPO's top-K divergences), without gradient, in fp32.
@torch.no_grad()
def completion_log_softmax_topk(model, input_ids, attention_mask, logits_to_keep: int, temperature: float, k: int,
                                ids: torch.Tensor | None = None, chunk: int = 16):
    """For each completion position: the top-`k` log-probs and ids of softmax(logits / temperature), or, with `ids`
    (B, T, K) given, the log-probs at those ids. Temperature-scaled like the log-probs TRL's loss uses.
    Processed in row chunks so full (B, T, V) fp32 logits never exist at once."""
    out_logp, out_ids = [], []
    for start in range(0, input_ids.size(0), chunk):
        sl = slice(start, start + chunk)
        logits = model(input_ids=input_ids[sl], attention_mask=attention_mask[sl]).logits
        logits = logits[:, -logits_to_keep - 1:-1].float() / temperature  # position t predicts token t+1
        logp = torch.log_softmax(logits, dim=-1)
        if ids is None:
            values, index = logp.topk(min(k, logp.size(-1)), dim=-1)
            out_logp.append(values)
            out_ids.append(index)
        else:
            out_logp.append(logp.gather(-1, ids[sl].to(logp.device)))
    logp = torch.cat(out_logp, 0)
    return (logp, torch.cat(out_ids, 0)) if ids is None else (logp, ids)


class VepoGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` whose `_compute_loss` (a private hook of trl==1.16.0, pinned) calls a registry objective."""

    # Metrics that are means over a process's micro-batches and drive controllers: reduced over all processes.
    SHARED_METRIC_PREFIXES = ("objective/", "diag/", "entropy")

    def __init__(self, *args, objective, algo_trainer: AlgoTrainerConfig | None = None,
                 token_rarity: torch.Tensor | None = None, token_counts: torch.Tensor | None = None,
                 rollout: RolloutConfig | None = None, **kwargs):
        """`token_rarity` / `token_counts`: the (V,) rarity table of the training targets and the counts behind it,
        for the diagnostics by rarity bucket (and handed to an objective whose needs() asks for them). `rollout`:
        the `rollout` group; `static` generates with vepo's engine instead of model.generate."""
        super().__init__(*args, **kwargs)
        self.rollout_settings = rollout or RolloutConfig()
        self._static_rollout: StaticRollout | None = None
        self._rollout_logps: list[list[float]] | None = None  # behaviour log-probs awaiting TRL's old-log-prob pass
        self.objective = objective
        self.needs = objective.needs()
        self.algo_trainer = algo_trainer or AlgoTrainerConfig()
        self._resample_rng = random.Random(self.args.seed)
        self.token_rarity = token_rarity
        if self.needs.token_rarity:
            if token_rarity is None:
                raise ValueError(f"objective {objective.name!r} needs the token rarity table (token_rarity=...)")
            objective.set_token_rarity(token_rarity, token_counts)

    # ---- rollout batch ------------------------------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs):
        rows = list(inputs)
        out = super()._generate_and_score_completions(rows)
        mode = "train" if self.model.training else "eval"
        if self.algo_trainer.dynamic_sampling and mode == "train":
            out, rows = self._dynamic_sampling(out, rows)
        if self.needs.rollout_topk and out.get("old_per_token_logps") is not None:
            # Off-policy reuse: the anchor is the rollout policy, so its top-K must be taken now. (On-policy
            # batches need none: their divergence is identically 0.)
            ids, mask = self._sequence(out)
            with self.accelerator.autocast():
                out["old_topk_logp"], out["old_topk_ids"] = completion_log_softmax_topk(
                    self.model, ids, mask, out["completion_ids"].size(1), self.temperature, self.needs.rollout_topk)
        if self.needs.reference_tokens:
            out.update(self._reference_token_inputs(rows))
        return out

    # ---- rollout=static ---------------------------------------------------------------------------------------
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        """TRL's generation (model.generate or vLLM), or with rollout=static vepo's static-cache engine (same return
        shape as TRL's); either way the rollout's generation seconds are logged."""
        self._rollout_logps = None
        mode = "train" if self.model.training else "eval"
        started = time.perf_counter()
        if self.rollout_settings.name != "static":
            out = super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                has_tool_images)
        else:
            out = self._static_generate(prompt_ids, images, multimodal_fields, mode)
        # Seconds of generation per rollout: the rollout's share of a step, for every backend alike.
        self._metrics[mode]["rollout/generation_s"].append(time.perf_counter() - started)
        return out

    def _static_generate(self, prompt_ids, images, multimodal_fields, mode: str):
        from trl.models import unwrap_model_for_generation

        if images is not None or multimodal_fields:
            raise NotImplementedError("rollout=static generates text only")
        # The same context as TRL's model.generate path: unwrapped (ZeRO-3 gathered, FSDP summoned) and without
        # activation checkpointing, which would turn the KV cache off.
        with (
            unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                        gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                        gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs) as model,
            torch.no_grad(),
            self._dist.summon_full_params(self.model_wrapped, recurse=False),
        ):
            engine = self._static_engine()
            completion_ids, logprobs = engine.generate(model, prompt_ids)
            same_precision = self._rollout_precision_is_training_precision(model)
        for name, value in engine.last_stats.items():
            self._metrics[mode][name].append(value)
        # TRL runs an extra no-grad pass for the behaviour log-probs exactly when this holds (reused rollouts); the
        # engine already has them, at the same precision.
        generate_every = self.args.steps_per_generation * self.num_iterations
        reused = self.args.gradient_accumulation_steps % generate_every != 0
        saved = reused and same_precision and self.rollout_settings.reuse_logprobs
        if saved:
            self._rollout_logps = logprobs
        self._metrics[mode]["rollout/logprob_pass_saved"].append(float(saved))
        return completion_ids, logprobs

    def _static_engine(self) -> StaticRollout:
        if self._static_rollout is None:
            if self.min_p is not None or (self.repetition_penalty or 1.0) != 1.0:
                raise NotImplementedError("rollout=static samples with temperature, top-p and top-k only")
            sampling = SamplingSettings(
                max_new_tokens=self.max_completion_length, temperature=self.temperature,
                top_p=self.top_p, top_k=self.top_k or None, eos_ids=list(self.eos_token_ids),
                pad_id=self._tokenizer.pad_token_id)
            self._static_rollout = StaticRollout(self.rollout_settings, sampling)
        return self._static_rollout

    def _rollout_precision_is_training_precision(self, model) -> bool:
        """The rollout runs the weights in their own dtype; training's log-prob pass too, unless mixed precision
        casts it to another."""
        weights = next(model.parameters()).dtype
        autocast = torch.bfloat16 if self.args.bf16 else torch.float16 if self.args.fp16 else weights
        return autocast == weights

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        """The first no-grad pass of the policy after a static rollout that TRL would use for `old_per_token_logps`
        is answered from the rollout's own log-probs (the padding is 0, as TRL's)."""
        pending = self._rollout_logps
        if (pending is not None and model is self.model and not torch.is_grad_enabled()
                and not kwargs.get("compute_entropy") and len(pending) == input_ids.size(0)):
            self._rollout_logps = None
            logps = torch.zeros((len(pending), logits_to_keep), dtype=torch.float32, device=input_ids.device)
            for row, values in enumerate(pending):
                logps[row, :len(values)] = torch.tensor(values, dtype=torch.float32)
            return logps, None, None
        return super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, *args,
                                                          **kwargs)

    def _dynamic_sampling(self, out: dict, rows: list[dict]) -> tuple[dict, list[dict]]:
        """DAPO: swap groups whose rewards are all equal for groups of fresh prompts, up to a retry budget."""
        G = self.num_generations
        if self.accelerator.num_processes > 1:
            raise NotImplementedError("dynamic sampling is single-process for now (groups span processes otherwise)")
        bad = degenerate_groups(out["advantages"], G)
        n_initial = int(bad.sum())
        rounds = 0
        while bad.any() and rounds < self.algo_trainer.max_resample_rounds:
            rounds += 1
            n_bad = int(bad.sum())
            fresh_prompts = [self.train_dataset[self._resample_rng.randrange(len(self.train_dataset))]
                             for _ in range(n_bad)]
            fresh_rows = [dict(p) for p in fresh_prompts for _ in range(G)]
            fresh = super()._generate_and_score_completions(fresh_rows)
            good = (~degenerate_groups(fresh["advantages"], G)).nonzero().flatten().tolist()
            bad_groups = bad.nonzero().flatten().tolist()
            swaps = list(zip(bad_groups, good))
            if not swaps:
                continue
            n_old = out["advantages"].size(0)
            order = list(range(n_old))
            for old_g, new_g in swaps:
                for j in range(G):
                    order[old_g * G + j] = n_old + new_g * G + j
                    rows[old_g * G + j] = fresh_rows[new_g * G + j]
            merged = concat_rows(out, fresh, self.processing_class.pad_token_id)
            out = select_rows(merged, torch.tensor(order))
            bad = degenerate_groups(out["advantages"], G)
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/degenerate_groups"].append(float(n_initial))
        metrics["dynamic_sampling/rounds"].append(float(rounds))
        metrics["dynamic_sampling/degenerate_after"].append(float(bad.sum()))
        return out, rows

    def _reference_token_inputs(self, rows: list[dict]) -> dict:
        """Prompt + reference translation + EOS for every row, padded like TRL's batch (for EGSPO's hybrid term)."""
        tok = self.processing_class
        device = self.accelerator.device
        prompts = [tok(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows]
        refs = [tok(make_completion(r["ref"]), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                for r in rows]
        p_len, r_len = max(map(len, prompts)), max(map(len, refs))
        pad = tok.pad_token_id
        prompt_ids = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompts], device=device)
        prompt_mask = torch.tensor([[0] * (p_len - len(p)) + [1] * len(p) for p in prompts], device=device)
        ref_ids = torch.tensor([r + [pad] * (r_len - len(r)) for r in refs], device=device)
        ref_mask = torch.tensor([[1] * len(r) + [0] * (r_len - len(r)) for r in refs], device=device)
        return {"sft_prompt_ids": prompt_ids, "sft_prompt_mask": prompt_mask, "sft_ids": ref_ids, "sft_mask": ref_mask}

    # ---- loss ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _sequence(inputs, prefix: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        if prefix:
            return (torch.cat([inputs[f"{prefix}prompt_ids"], inputs[f"{prefix}ids"]], 1),
                    torch.cat([inputs[f"{prefix}prompt_mask"], inputs[f"{prefix}mask"]], 1))
        return (torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1),
                torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1))

    def policy_batch(self, model, inputs) -> PolicyBatch:
        """Fill a PolicyBatch from TRL's generation batch and a forward pass of the current policy."""
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids, attention_mask = self._sequence(inputs)
        logp, entropy, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, completion_ids.size(1), compute_entropy=True
        )
        mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        # TRL computes behaviour log-probs only for reused (off-policy) batches, or always with vLLM; None means the
        # batch was sampled by the current weights.
        old_logp = inputs.get("old_per_token_logps")
        batch = PolicyBatch(
            logp=logp,
            old_logp=old_logp,
            advantages=inputs["advantages"],
            mask=mask.to(logp.dtype),
            entropy=None if entropy is None else (entropy if self.needs.entropy_grad else entropy.detach()),
            ref_logp=inputs.get("ref_per_token_logps"),
            token_ids=completion_ids,
            # TRL's vLLM correction (truncated or masked as configured); present only with vLLM rollouts.
            is_weight=inputs.get("importance_sampling_ratio"),
        )
        if self.needs.rollout_topk and old_logp is not None:
            T = completion_ids.size(1)
            with self.accelerator.autocast():  # the same precision as TRL's log-prob pass
                batch.old_topk_logp, batch.old_topk_ids = inputs["old_topk_logp"], inputs["old_topk_ids"]
                batch.cur_topk_logp, _ = completion_log_softmax_topk(
                    model, input_ids, attention_mask, T, self.temperature, self.needs.rollout_topk,
                    ids=batch.old_topk_ids)
        if self.needs.reference_tokens and "sft_ids" in inputs:
            sft_ids, sft_attention = self._sequence(inputs, prefix="sft_")
            batch.sft_logp, _, _ = self._get_per_token_logps_and_entropies(
                model, sft_ids, sft_attention, inputs["sft_ids"].size(1))
            batch.sft_mask = inputs["sft_mask"].to(logp.dtype)
        return batch

    def _compute_loss(self, model, inputs):
        batch = self.policy_batch(model, inputs)
        out = self.objective(batch)
        mode = "train" if self.model.training else "eval"
        # HF's loss scaling is off for GRPO: divide by the accumulation steps ourselves.
        loss = out.loss / self.current_gradient_accumulation_steps if mode == "train" else out.loss
        metrics = self._metrics[mode]
        for name, value in out.metrics.items():
            metrics[f"objective/{name}"].append(float(value))
        if batch.entropy is not None:
            m = batch.mask
            metrics["entropy"].append(float((batch.entropy.detach() * m).sum() / m.sum().clamp(min=1.0)))
        if mode == "train":  # 0 on the step right after a rollout (on-policy), then 1, 2, … while it is reused
            metrics["diag/rollout_step"].append(float(self._steps_since_rollout()))
        if out.token_stats is not None:
            rarity = None if self.token_rarity is None else lookup_ids(self.token_rarity, batch.token_ids.long(), 1.0)
            diag = bucket_diagnostics(out.token_stats, batch.mask, batch.entropy, rarity, batch.logp, batch.old_logp)
            for name, value in diag.items():
                metrics[name].append(value)
        return loss

    def _steps_since_rollout(self) -> int:
        """Optimiser steps since the current batch was generated (TRL's _step counts micro-batches)."""
        return (self._step // self.args.gradient_accumulation_steps) % rollout_cycle(self.args)

    # ---- metrics shared by all processes -------------------------------------------------------------------------
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """TRL averages each metric's values since the last log; first make those values every process's, so the
        logged means, and the controllers that read them (VEPO's λ, the reward balance), agree across ranks."""
        mode = "train" if self.model.training else "eval"
        if self.accelerator.num_processes > 1 and dist.is_available() and dist.is_initialized():
            share_metric_values(self._metrics[mode], self.SHARED_METRIC_PREFIXES)
        super().log(logs, start_time)


def share_metric_values(metrics: dict[str, list[float]], prefixes: tuple[str, ...]) -> None:
    """Replace each local list of values whose key starts with one of `prefixes` by the concatenation of every
    process's list, in rank order (so every process computes the same mean, bit for bit). Processes may hold
    different keys (a bucket that only one rank saw): the object gather tolerates that."""
    local = {k: list(v) for k, v in metrics.items() if k.startswith(prefixes)}
    gathered: list[dict[str, list[float]] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, local)
    for key in sorted({k for part in gathered for k in part}):
        metrics[key] = [v for part in gathered for v in part.get(key, [])]
