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
        self._last_num_tokens = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._step_seconds = time.perf_counter() - self._step_start

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs or not state.is_world_process_zero:  # a summary is not a step;
            return  # in multi-process runs only rank 0 writes
        self.write(self.step_record(state.global_step, logs))

    def step_record(self, step: int, logs: dict) -> dict:
        record: dict = {"step": step, "stage": self.stage}
        for key, value in logs.items():
            if isinstance(value, (int, float)):
                record[_RENAMES.get(key, key)] = value
        # One clip-fraction column for every algorithm: DPPO's trust-region analogue is its masked fraction.
        record["clip_frac"] = logs.get("objective/clip_frac", logs.get("objective/masked_frac"))
        record["step_seconds"] = self._step_seconds
        num_tokens = logs.get("num_tokens")
        if num_tokens is not None and self._step_seconds > 0:
            record["tokens_per_second"] = (num_tokens - self._last_num_tokens) / self._step_seconds
            self._last_num_tokens = num_tokens
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}

    def write(self, record: dict) -> None:
        raise NotImplementedError


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
