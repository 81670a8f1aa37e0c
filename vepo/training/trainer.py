"""vepo's GRPO trainer: TRL's GRPOTrainer does rollouts, rewards and advantages; vepo's objective owns the loss."""

from __future__ import annotations

import torch
from trl import GRPOTrainer

from vepo.objectives import PolicyBatch


class VepoGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` whose `_compute_loss` (a private hook of trl==1.16.0, pinned) calls a registry objective."""

    def __init__(self, *args, objective, **kwargs):
        super().__init__(*args, **kwargs)
        self.objective = objective

    def policy_batch(self, model, inputs) -> PolicyBatch:
        """Fill a PolicyBatch from TRL's generation batch and a forward pass of the current policy."""
        prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
        logp, entropy, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, completion_ids.size(1), compute_entropy=True
        )
        mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        # TRL skips the behaviour-policy pass when the batch is used once (on-policy): then old == sg(logp).
        old_logp = inputs.get("old_per_token_logps")
        return PolicyBatch(
            logp=logp,
            old_logp=logp.detach() if old_logp is None else old_logp,
            advantages=inputs["advantages"],
            mask=mask.to(logp.dtype),
            entropy=entropy.detach() if entropy is not None else None,
            ref_logp=inputs.get("ref_per_token_logps"),
            token_ids=completion_ids,
        )

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
