"""The RL stage: vepo's GRPOTrainer subclass with a registry objective and the configured rewards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from datasets import Dataset
from trl import GRPOConfig

from vepo.training.checks import check_batch_shape
from vepo.config.schema import TrainConfig
from vepo.errors import VepoError
from vepo.objectives import Needs
from vepo.objectives.advantages import ADVANTAGE_ESTIMATORS
from vepo.rewards.mixer import MixedRewardFunction, RewardMix
from vepo.rewards.overlong import OverlongPenalty
from vepo.training.callbacks import MetricsJsonlCallback, StepControllersCallback
from vepo.training.checkpointing import (
    VepoStateCallback,
    restore_controller_state,
    save_stage,
    truncate_metrics,
)
from vepo.training.objective_setup import rarity_table
from vepo.training.stage_watch import train_watched
from vepo.training.trainer import VepoGRPOTrainer
from vepo.training.trainer_args import common_trainer_args, peft_config, rollout_args
from vepo.utils.io import atomic_write_json

def grpo_config(cfg: TrainConfig, needs: Needs, run_dir: Path) -> GRPOConfig:
    """TRL's arguments for the RL stage. Off-policy reuse: one rollout batch of prompts_per_step ×
    steps_per_generation prompts is split into steps_per_generation optimiser steps (TRL counts micro-batches, so
    its steps_per_generation is ours × the accumulation steps), and the whole sweep is repeated num_iterations times."""
    t = cfg.train
    completions = t.prompts_per_step * t.num_generations  # per optimiser step, over all processes
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    check_batch_shape(t, processes)
    if needs.advantage not in ADVANTAGE_ESTIMATORS:
        raise VepoError(f"objective advantage estimator '{needs.advantage}' is not supported by the trainer")
    return GRPOConfig(
        **common_trainer_args(cfg, run_dir, "rl"),
        max_steps=t.rl_steps,
        learning_rate=t.rl_lr,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=int(t.warmup_ratio * t.rl_steps),
        per_device_train_batch_size=completions // (t.gradient_accumulation_steps * processes),
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_generations=t.num_generations,
        steps_per_generation=t.steps_per_generation * t.gradient_accumulation_steps,
        num_iterations=t.num_iterations,
        max_completion_length=t.max_completion_length,
        temperature=t.temperature,
        top_p=t.top_p,
        # TRL reads β only to decide whether to run the reference model; the objective applies its own β.
        beta=1.0 if needs.ref_logp else 0.0,
        scale_rewards=ADVANTAGE_ESTIMATORS[needs.advantage],  # TRL computes the advantages (objectives/advantages.py)
        logging_steps=1,
        log_completions=False,
        model_init_kwargs=model_init_kwargs(cfg),
        **rollout_args(cfg),
    )


def model_init_kwargs(cfg: TrainConfig) -> dict:
    kwargs = {"dtype": cfg.model.dtype}
    if cfg.hardware.attn_implementation:
        kwargs["attn_implementation"] = cfg.hardware.attn_implementation
    return kwargs


def algorithm_rewards(cfg: TrainConfig) -> tuple[list[object], list[float]]:
    """Reward terms an algorithm adds to the configured mix (DAPO's overlong penalty)."""
    if cfg.algo.trainer.overlong_penalty:
        return [OverlongPenalty(cfg.train.max_completion_length, cfg.algo.trainer.overlong_cache_ratio)], [1.0]
    return [], []


def run_rl(model_path: Path, tokenizer, dataset: Dataset, reward_mix: RewardMix, objective,
           cfg: TrainConfig, run_dir: Path, out_dir: Path, resume_from: Path | None = None,
           extra_callbacks: Sequence = ()) -> Path:
    """GRPO-style training from the checkpoint at `model_path` (TRL builds the reference model from the same path),
    continuing from the trainer checkpoint `resume_from` when given."""
    args = grpo_config(cfg, objective.needs(), run_dir)
    extra_funcs, extra_weights = algorithm_rewards(cfg)
    reward_funcs = [MixedRewardFunction(reward_mix, total_steps=cfg.train.rl_steps), *extra_funcs]
    args.reward_weights = [1.0, *extra_weights]
    # Every run gets the rarity table: the diagnostics bucket tokens by it (DPPO-AV's thresholds read it too).
    rarity, counts, _ = rarity_table(tokenizer, list(dataset["ref"]), run_dir / "cache")
    trainer = VepoGRPOTrainer(
        model=str(model_path),
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        objective=objective,
        algo_trainer=cfg.algo.trainer,
        rollout=cfg.rollout,
        token_rarity=rarity,
        token_counts=counts,
        peft_config=peft_config(cfg.model.lora),
        callbacks=[MetricsJsonlCallback(run_dir / "metrics.jsonl", stage="rl"),
                   StepControllersCallback(objective, reward_mix), VepoStateCallback(objective, reward_mix),
                   *extra_callbacks],
    )
    if resume_from is not None:
        truncate_metrics(run_dir / "metrics.jsonl", restore_controller_state(resume_from, objective, reward_mix))
    train_watched(trainer, "rl", cfg, "train.rl_lr", cfg.train.rl_lr, model_path, resume_from)
    if trainer.accelerator.num_processes > 1:  # evidence that every rank ended with the same controller state
        rank = trainer.accelerator.process_index
        atomic_write_json(run_dir / "launch" / f"objective_state-rank{rank}.json",
                          {"objective": objective.name, "state": objective.state_dict(),
                           "reward_balance": reward_mix.balance.state})
    return save_stage(trainer, tokenizer, out_dir, {"stage": "rl", "steps": cfg.train.rl_steps},
                      lambda tmp: save_objective_state(objective, tmp), merge_adapters=cfg.model.lora.merge)


def save_objective_state(objective, out_dir: Path) -> None:
    """Controller state (VEPO's λ, EGSPO's μ step) travels with the checkpoint."""
    atomic_write_json(out_dir / "objective_state.json", {"objective": objective.name, "params": objective.params(),
                                                          "state": objective.state_dict()})
