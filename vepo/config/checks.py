"""Checks of a composed config that the schema cannot express, run before any job starts (cheap imports only)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from vepo.errors import VepoError


def check_train_config(cfg: DictConfig) -> None:
    """The objective accepts its params, the rewards exist, the batch shape is consistent."""
    from vepo.rewards.mixer import check_reward_config
    from vepo.training.objective_setup import build_objective

    if cfg.algo.name != "sft":  # algo=sft trains without an objective
        build_objective(cfg.algo.name, OmegaConf.to_container(cfg.algo.params, resolve=True),
                        cfg.train.max_completion_length)
    check_reward_config(cfg.reward)
    t = cfg.train
    if t.num_generations < 2:
        raise VepoError(f"config error: train.num_generations={t.num_generations}; group advantages need >= 2")
    completions = t.prompts_per_step * t.num_generations
    if completions % t.gradient_accumulation_steps:
        raise VepoError(f"config error: train.prompts_per_step*train.num_generations={completions} is not divisible "
                        f"by train.gradient_accumulation_steps={t.gradient_accumulation_steps}")


def check_eval_config(cfg: DictConfig) -> None:
    if cfg.model.path is None:
        raise VepoError("config error: vepo eval needs a model; pass model.path=<checkpoint directory or HF id>")
    from vepo.models.paths import check_model_path

    check_model_path(cfg.model.path)
