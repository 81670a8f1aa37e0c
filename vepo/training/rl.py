"""The RL stage: vepo's GRPOTrainer subclass with a registry objective and the configured rewards."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset
from trl import GRPOConfig

from vepo.config.schema import TrainConfig
from vepo.errors import VepoError
from vepo.training.callbacks import MetricsJsonlCallback, ObjectiveStepCallback
from vepo.training.trainer import VepoGRPOTrainer
from vepo.training.trainer_args import common_trainer_args

# Which TRL advantage normalisation reproduces each of vepo's advantage estimators (ALGORITHMS.md "Advantages").
_SCALE_REWARDS = {"group": "group", "dr_grpo": "none"}


def grpo_config(cfg: TrainConfig, objective, run_dir: Path) -> GRPOConfig:
    t = cfg.train
    completions = t.prompts_per_step * t.num_generations  # divisibility is checked before the run starts
    advantage = getattr(objective, "advantage", "group")
    if advantage not in _SCALE_REWARDS:
        raise VepoError(f"objective advantage estimator '{advantage}' is not supported by the trainer")
    return GRPOConfig(
        **common_trainer_args(cfg, run_dir, "rl"),
        max_steps=t.rl_steps,
        learning_rate=t.rl_lr,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=int(t.warmup_ratio * t.rl_steps),
        per_device_train_batch_size=completions // t.gradient_accumulation_steps,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_generations=t.num_generations,
        max_completion_length=t.max_completion_length,
        temperature=t.temperature,
        top_p=t.top_p,
        beta=float(getattr(objective, "beta", 0.0)),
        scale_rewards=_SCALE_REWARDS[advantage],
        logging_steps=1,
        log_completions=False,
        model_init_kwargs={"dtype": cfg.model.dtype},
    )


def run_rl(model_path: Path, tokenizer, dataset: Dataset, reward_funcs, reward_weights, objective,
           cfg: TrainConfig, run_dir: Path, out_dir: Path) -> Path:
    """GRPO-style training from the checkpoint at `model_path` (TRL builds the reference model from the same path)."""
    args = grpo_config(cfg, objective, run_dir)
    args.reward_weights = reward_weights
    trainer = VepoGRPOTrainer(
        model=str(model_path),
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        objective=objective,
        callbacks=[MetricsJsonlCallback(run_dir / "metrics.jsonl", stage="rl"), ObjectiveStepCallback(objective)],
    )
    trainer.train()
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
