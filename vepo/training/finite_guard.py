"""Stop a training stage the moment its loss, gradient norm or weights stop being finite numbers.

A diverged step (too high a learning rate, an fp16 overflow) leaves NaN weights behind; training on would save them
as checkpoints and as the stage's model, and the next rollout would crash deep inside sampling. The guard watches
every optimiser step: the logged loss and gradient norm (`on_log`) and the weights themselves (`on_step_end`, which
also covers steps that log nothing). On the first non-finite value it stops the trainer, cancels the checkpoint
that step would have saved, and the stage raises `TrainingDiverged` once `trainer.train()` returns, so the stage's
model is never written and the last good checkpoint stays the newest one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import TrainerCallback

from vepo.errors import VepoError

# Logged quantities, in the order a divergence shows up in them (the first one named is the most telling).
_WATCHED = (("loss", "the loss"), ("grad_norm", "the gradient norm"))


class TrainingDiverged(VepoError):
    """Training produced a non-finite loss, gradient norm or weights; the stage stopped without saving them."""


@dataclass
class Divergence:
    step: int
    what: str  # "the loss", "the gradient norm", "the weights"
    value: float | None  # the logged value (None for the weights)


def weights_finite(model: torch.nn.Module) -> bool:
    """True when every floating-point parameter holds only finite numbers (one device sync for the whole model).

    A NaN or an infinity anywhere makes its tensor's sum non-finite, so one fp32-accumulated sum per tensor decides
    it in a single read of the weights, with no (numel,) mask: 0.05 s instead of 1.5 s for 0.45 B fp32 weights on
    one CPU thread (isfinite().all()). Finite weights can make a non-finite sum only beyond 3e38 in magnitude."""
    sums = [p.detach().sum(dtype=torch.float32) for p in model.parameters() if p.is_floating_point() and p.numel()]
    if not sums:
        return True
    return bool(torch.isfinite(torch.stack([s.to(sums[0].device) for s in sums])).all().item())


class FiniteGuardCallback(TrainerCallback):
    """Watches one stage (`sft` or `rl`) for non-finite numbers; `raise_if_diverged()` after training reports it.
    Every rank decides the same way: the logged loss and gradient norm are gathered over processes, and data-parallel
    replicas hold the same weights."""

    def __init__(self, stage: str, lr_key: str, lr: float, last_good: Path | str | None = None) -> None:
        """`lr_key`: the config key that set the learning rate `lr` (named in the hint)."""
        self.stage, self.lr_key, self.lr = stage, lr_key, lr
        self.last_good = last_good  # the model the stage started from, when no trainer checkpoint is newer
        self.divergence: Divergence | None = None

    def _stop(self, control, step: int, what: str, value: float | None) -> None:
        if self.divergence is None or (self.divergence.step == step and self.divergence.what == "the weights"):
            self.divergence = Divergence(step, what, value)  # a logged cause names the step better than "weights"
        control.should_training_stop = True
        control.should_save = False  # never checkpoint the diverged weights

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is not None and not weights_finite(model):
            self._stop(control, state.global_step, "the weights", None)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs:
            return control
        for key, what in _WATCHED:
            value = logs.get(key)
            if isinstance(value, (int, float)) and not math.isfinite(value):
                self._stop(control, state.global_step, what, float(value))
                break
        return control

    def message(self, max_steps: int, checkpoint: Path | None) -> str:
        d = self.divergence
        value = "" if d.value is None else f" ({d.value})"
        kept = checkpoint or self.last_good
        where = f"; the last good model is {kept}" if kept is not None else ""
        return (f"{self.stage.upper()} stopped at step {d.step}/{max_steps}: {d.what} became non-finite{value}, so "
                f"nothing from this step was saved{where}. Lower the learning rate ({self.lr_key}={self.lr:g}) "
                f"or train.max_grad_norm and run again")

    def raise_if_diverged(self, max_steps: int, trainer_dir: Path) -> None:
        if self.divergence is None:
            return
        from vepo.training.checkpointing import latest_checkpoint

        raise TrainingDiverged(self.message(max_steps, latest_checkpoint(trainer_dir)))
