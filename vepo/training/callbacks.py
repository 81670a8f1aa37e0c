"""Trainer callbacks: one metrics.jsonl line per optimiser step, and the objective's controller update."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from transformers import TrainerCallback

# TRL's log keys → vepo's metrics.jsonl keys (the stable names other tools read).
_RENAMES = {
    "reward": "reward_mean",
    "reward_std": "reward_std",
    "entropy": "entropy_mean",
    "completions/mean_length": "completion_length_mean",
    "loss": "loss",
    "learning_rate": "learning_rate",
    "grad_norm": "grad_norm",
    "frac_reward_zero_std": "frac_zero_std_groups",
}


class StepRecordCallback(TrainerCallback):
    """Builds one record per logged optimiser step, `{"step", "stage", reward/entropy/clip/length/timing...}`, and
    hands it to `write`: metrics.jsonl and W&B get the same keys."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._step_start = time.perf_counter()
        self._step_seconds = float("nan")
        self._cycle_seconds = 0.0  # seconds of the optimiser steps since the last rollout's tokens were counted
        self._last_num_tokens = 0.0
        self._num_tokens: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._step_seconds = time.perf_counter() - self._step_start
        self._cycle_seconds += self._step_seconds

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs or not state.is_world_process_zero:  # a summary is not a step;
            return  # in multi-process runs only rank 0 writes
        self.write(self.step_record(state.global_step, logs, rollout_cycle(args)))

    def step_record(self, step: int, logs: dict, cycle: int = 1) -> dict:
        """`cycle`: optimiser steps per rollout batch; throughput is measured over a whole cycle (its tokens are
        generated on its first step and trained on in all of them)."""
        record: dict = {"step": step, "stage": self.stage}
        for key, value in logs.items():
            if isinstance(value, (int, float)):
                record[_RENAMES.get(key, key)] = value
        # One clip-fraction column for every algorithm: DPPO's trust-region analogue is its masked fraction.
        record["clip_frac"] = logs.get("objective/clip_frac", logs.get("objective/masked_frac"))
        record["step_seconds"] = self._step_seconds
        # TRL logs its running token count on the steps that generate; the cycle's throughput is known at its end.
        self._num_tokens = logs.get("num_tokens", self._num_tokens)
        if step % cycle == 0 and self._num_tokens is not None and self._cycle_seconds > 0:
            record["tokens_per_second"] = (self._num_tokens - self._last_num_tokens) / self._cycle_seconds
            self._last_num_tokens, self._cycle_seconds = self._num_tokens, 0.0
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}

    def write(self, record: dict) -> None:
        raise NotImplementedError


def rollout_cycle(args) -> int:
    """Optimiser steps per rollout batch: TRL's steps_per_generation (micro-batches) × num_iterations over the
    accumulation steps; 1 for trainers without rollouts (SFT)."""
    accumulation = max(int(args.gradient_accumulation_steps), 1)
    micro_batches = getattr(args, "steps_per_generation", None) or accumulation
    return max(micro_batches * int(getattr(args, "num_iterations", 1)) // accumulation, 1)


class MetricsJsonlCallback(StepRecordCallback):
    """Appends each step's record to `path` as one JSON line."""

    def __init__(self, path: str | Path, stage: str) -> None:
        super().__init__(stage)
        self.path = Path(path)

    def write(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class StepControllersCallback(TrainerCallback):
    """Feeds each optimiser step's logged metrics to the controllers: the objective's (VEPO's λ, EGSPO's μ step)
    and the reward mix's balance schedule (entropy-coupled weight). Relies on logging_steps=1 (the RL stage's
    setting), so every optimiser step is seen."""

    def __init__(self, objective, reward_mix=None) -> None:
        self.objective = objective
        self.reward_mix = reward_mix

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs:
            return
        self.objective.on_step_end(dict(logs))
        if self.reward_mix is not None:
            self.reward_mix.observe_entropy(logs.get("entropy"))
