"""vepo's GRPO trainer: TRL's GRPOTrainer does rollouts, rewards and advantages; vepo's objective owns the loss.

Beyond the loss hook it adds what some algorithms ask of the rollout batch: DAPO's dynamic sampling, the rollout
top-K log-probs of DPPO's top-K divergences, and the reference-translation tokens of EGSPO's hybrid SFT term.
"""

from __future__ import annotations

import random

import torch
from trl import GRPOTrainer

from vepo.config.schema import AlgoTrainerConfig
from vepo.data.prompts import make_completion
from vepo.objectives import PolicyBatch
from vepo.training.batch_rows import concat_rows, degenerate_groups, select_rows
from vepo.training.topk import completion_log_softmax_topk


class VepoGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` whose `_compute_loss` (a private hook of trl==1.16.0, pinned) calls a registry objective."""

    def __init__(self, *args, objective, algo_trainer: AlgoTrainerConfig | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.objective = objective
        self.algo_trainer = algo_trainer or AlgoTrainerConfig()
        self._resample_rng = random.Random(self.args.seed)

    # ---- what the objective needs -------------------------------------------------------------------------------
    @property
    def _top_k(self) -> int | None:
        return getattr(self.objective, "topk_k", None)

    @property
    def _wants_reference_tokens(self) -> bool:
        return float(getattr(self.objective, "mu_max", 0.0) or 0.0) > 0.0

    # ---- rollout batch ------------------------------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs):
        rows = list(inputs)
        out = super()._generate_and_score_completions(rows)
        mode = "train" if self.model.training else "eval"
        if self.algo_trainer.dynamic_sampling and mode == "train":
            out, rows = self._dynamic_sampling(out, rows)
        if self._top_k and out.get("old_per_token_logps") is not None:
            # Off-policy reuse: the anchor is the rollout policy, so its top-K must be taken now.
            ids, mask = self._sequence(out)
            with self.accelerator.autocast():
                out["old_topk_logp"], out["old_topk_ids"] = completion_log_softmax_topk(
                    self.model, ids, mask, out["completion_ids"].size(1), self.temperature, self._top_k)
        if self._wants_reference_tokens:
            out.update(self._reference_token_inputs(rows))
        return out

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
        # TRL skips the behaviour-policy pass when the batch is used once (on-policy): then old == sg(logp).
        old_logp = inputs.get("old_per_token_logps")
        batch = PolicyBatch(
            logp=logp,
            old_logp=logp.detach() if old_logp is None else old_logp,
            advantages=inputs["advantages"],
            mask=mask.to(logp.dtype),
            entropy=entropy.detach() if entropy is not None else None,
            ref_logp=inputs.get("ref_per_token_logps"),
            token_ids=completion_ids,
        )
        if self._top_k:
            self._fill_topk(model, inputs, batch, input_ids, attention_mask)
        if self._wants_reference_tokens and "sft_ids" in inputs:
            sft_ids, sft_attention = self._sequence(inputs, prefix="sft_")
            batch.sft_logp, _, _ = self._get_per_token_logps_and_entropies(
                model, sft_ids, sft_attention, inputs["sft_ids"].size(1))
            batch.sft_mask = inputs["sft_mask"].to(logp.dtype)
        return batch

    def _fill_topk(self, model, inputs, batch: PolicyBatch, input_ids, attention_mask) -> None:
        T = inputs["completion_ids"].size(1)
        with self.accelerator.autocast():  # the same precision as TRL's log-prob pass
            if "old_topk_ids" in inputs:
                batch.old_topk_logp, batch.old_topk_ids = inputs["old_topk_logp"], inputs["old_topk_ids"]
                batch.cur_topk_logp, _ = completion_log_softmax_topk(
                    model, input_ids, attention_mask, T, self.temperature, self._top_k, ids=batch.old_topk_ids)
            else:
                # On-policy: the rollout policy is the current one, so one pass gives both.
                topk_logp, topk_ids = completion_log_softmax_topk(
                    model, input_ids, attention_mask, T, self.temperature, self._top_k)
                batch.old_topk_logp, batch.old_topk_ids, batch.cur_topk_logp = topk_logp, topk_ids, topk_logp

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
            metrics["entropy"].append(float((batch.entropy * m).sum() / m.sum().clamp(min=1.0)))
        return loss
