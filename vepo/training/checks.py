"""`vepo train`'s config checks that the schema cannot express, run before any job starts (one place; the workers
run `check_batch_shape` again with the real process count)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from vepo.data.prompts import check_template
from vepo.errors import VepoError


def check_train_config(cfg: DictConfig) -> None:
    """The objective accepts its params, the rewards exist, the batch shape is consistent."""
    from vepo.rewards.mixer import check_reward_config
    from vepo.training.objective_setup import build_objective

    if cfg.algo.name != "sft":  # algo=sft trains without an objective
        build_objective(cfg.algo.name, OmegaConf.to_container(cfg.algo.params, resolve=True),
                        cfg.train.max_completion_length)
    check_reward_config(cfg.reward)
    _check_lang(cfg.lang.src, "lang.src")
    _check_lang(cfg.lang.tgt, "lang.tgt")
    check_template(cfg.prompt.template)
    from vepo.data.sources import check_training_data
    from vepo.training.launch import check_hardware, world_size
    from vepo.training.trainer_args import rollout_args

    check_hardware(OmegaConf.to_object(cfg.hardware))
    rollout_args(cfg)

    check_training_data(OmegaConf.to_object(cfg.data), OmegaConf.to_object(cfg.lang))
    if cfg.train.eval_suite:
        from vepo.evaluation.suites import expand_suite, suite_from_spec

        expand_suite(suite_from_spec(cfg.train.eval_suite))
    _check_logger(cfg.logger)
    t = cfg.train
    if t.num_generations < 2:
        raise VepoError(f"config error: train.num_generations={t.num_generations}; group advantages need >= 2")
    for key in ("steps_per_generation", "num_iterations", "gradient_accumulation_steps", "prompts_per_step"):
        if getattr(t, key) < 1:
            raise VepoError(f"config error: train.{key}={getattr(t, key)} must be >= 1")
    hw = cfg.hardware
    check_batch_shape(t, world_size(OmegaConf.to_object(hw)) if hw.launcher != "none" else 1)


def check_batch_shape(t, processes: int) -> None:
    """Each optimiser step's completions split evenly over processes × accumulation steps (the one place this is
    checked: before the job, and again in each worker, where the real process count is known)."""
    completions = t.prompts_per_step * t.num_generations
    if completions % (t.gradient_accumulation_steps * processes):
        raise VepoError(f"config error: train.prompts_per_step*train.num_generations={completions} is not divisible "
                        f"by train.gradient_accumulation_steps*processes={t.gradient_accumulation_steps * processes}")


_LOGGERS = ("none", "wandb")
_LOGGER_MODES = ("auto", "online", "offline", "disabled")


def _check_logger(logger) -> None:
    if logger.name not in _LOGGERS:
        raise VepoError(f"config error: logger.name='{logger.name}' is not one of {', '.join(_LOGGERS)}")
    if logger.mode not in _LOGGER_MODES:
        raise VepoError(f"config error: logger.mode='{logger.mode}' is not one of {', '.join(_LOGGER_MODES)}")
    for key in ("sample_every_steps", "num_samples"):
        if getattr(logger, key) < 0:
            raise VepoError(f"config error: logger.{key}={getattr(logger, key)} must be >= 0")


def _check_lang(code: str, key: str) -> None:
    from vepo.data.languages import canonical_code
    from vepo.data.toy import TOY_TGT_CODE

    if code != TOY_TGT_CODE:
        try:
            canonical_code(code)
        except VepoError as exc:
            raise VepoError(f"config error: {key}: {exc}") from None
