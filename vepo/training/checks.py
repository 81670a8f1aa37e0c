"""`vepo train`'s config checks, run before any job starts (one place; the workers run `check_batch_shape` again with
the real process count). Numeric ranges are declared in the schema (vepo/config/ranges.py) and checked first; this
module adds what needs more than one field, a registry, the data files or this machine's hardware."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from vepo.config.ranges import check_ranges
from vepo.data.prompts import check_template
from vepo.errors import VepoError


def check_train_config(cfg: DictConfig) -> None:
    """Ranges, the tiny model's shape, the objective's params, the rewards, languages, hardware, the data files,
    the logger and the batch shape — in the order a user fixes them."""
    from vepo.rewards.mixer import check_reward_config
    from vepo.training.objective_setup import build_objective

    check_ranges(cfg)
    if cfg.model.path is None:
        _check_tiny_shape(cfg.model.tiny)
    else:
        from vepo.models.paths import check_model_path

        check_model_path(cfg.model.path)
    if cfg.algo.name != "sft":  # algo=sft trains without an objective
        build_objective(cfg.algo.name, OmegaConf.to_container(cfg.algo.params, resolve=True),
                        cfg.train.max_completion_length)
    check_reward_config(cfg.reward)
    _check_lang(cfg.lang.src, "lang.src")
    _check_lang(cfg.lang.tgt, "lang.tgt")
    check_template(cfg.prompt.template)
    from vepo.config.validate import jobs_run_here
    from vepo.data.sources import check_training_data
    from vepo.training.launch import check_gpus_present, check_hardware, world_size
    from vepo.training.trainer_args import rollout_args

    check_hardware(OmegaConf.to_object(cfg.hardware))
    if jobs_run_here():  # a cluster launcher's jobs find their GPUs on the cluster
        check_gpus_present(cfg)
    rollout_args(cfg)
    _check_rollout(cfg.rollout.name, cfg.hardware.device)

    evaluates = cfg.train.evaluate_after_sft or cfg.train.evaluate_at_end
    data, lang = OmegaConf.to_object(cfg.data), OmegaConf.to_object(cfg.lang)
    check_training_data(data, lang, eval_split=cfg.eval.split if evaluates else None)
    if cfg.train.eval_suite:
        _check_eval_suite(cfg.train.eval_suite, data, cfg.eval.split)
    _check_logger(cfg.logger)
    hw = cfg.hardware
    check_batch_shape(cfg.train, world_size(OmegaConf.to_object(hw)) if hw.launcher != "none" else 1)


def check_batch_shape(t, processes: int) -> None:
    """Each optimiser step's completions split evenly over processes × accumulation steps (the one place this is
    checked: before the job, and again in each worker, where the real process count is known)."""
    completions = t.prompts_per_step * t.num_generations
    if completions % (t.gradient_accumulation_steps * processes):
        raise VepoError(f"config error: train.prompts_per_step*train.num_generations={completions} is not divisible "
                        f"by train.gradient_accumulation_steps*processes={t.gradient_accumulation_steps * processes}")


def _check_tiny_shape(tiny) -> None:
    """The built-from-config model's attention shape (Qwen2 splits hidden_size into heads, heads into KV groups,
    and rotates pairs of each head's dimensions)."""
    if tiny.hidden_size % tiny.num_attention_heads or (tiny.hidden_size // tiny.num_attention_heads) % 2:
        raise VepoError(f"config error: model.tiny.hidden_size={tiny.hidden_size} / model.tiny.num_attention_heads="
                        f"{tiny.num_attention_heads} must be a whole, even head size (e.g. hidden_size=128, 4 heads)")
    if tiny.num_attention_heads % tiny.num_key_value_heads:
        raise VepoError(f"config error: model.tiny.num_attention_heads={tiny.num_attention_heads} must be a multiple "
                        f"of model.tiny.num_key_value_heads={tiny.num_key_value_heads}")


def _check_eval_suite(spec: str, data, split: str) -> None:
    """The suite exists, and its FLORES files read cleanly when a FLORES directory is configured (without one the
    suite is skipped with a warning at the end of training)."""
    from vepo.data.flores import flores_root, open_flores
    from vepo.evaluation.suites import expand_suite, suite_from_spec

    directions = expand_suite(suite_from_spec(spec))
    root = flores_root(data.flores_dir)
    if root is not None:
        open_flores(root).check_directions(split, [(d.src, d.tgt) for d in directions])


def _check_rollout(name: str, device: str) -> None:
    """vLLM rollouts need the vllm package, and colocated vLLM shares the training GPU: refuse before SFT runs
    rather than fail when the RL stage builds its trainer."""
    if not name.startswith("vllm"):
        return
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise VepoError(f"config error: rollout={name} needs the vllm package, which this environment lacks; "
                        "run with `uv run --extra vllm vepo train ...` (the locked vLLM extra) or use rollout=static "
                        "(the default) or rollout=hf")
    if name == "vllm_colocate" and device == "cpu":
        raise VepoError("config error: rollout=vllm_colocate generates on the training GPU, but hardware.device=cpu; "
                        "use hardware=gpu or rollout=static")


_LOGGERS = ("none", "wandb")
_LOGGER_MODES = ("auto", "online", "offline", "disabled")


def _check_logger(logger) -> None:
    if logger.name not in _LOGGERS:
        raise VepoError(f"config error: logger.name='{logger.name}' is not one of {', '.join(_LOGGERS)}")
    if logger.mode not in _LOGGER_MODES:
        raise VepoError(f"config error: logger.mode='{logger.mode}' is not one of {', '.join(_LOGGER_MODES)}")


def _check_lang(code: str, key: str) -> None:
    from vepo.data.languages import canonical_code
    from vepo.data.toy import TOY_TGT_CODE

    if code != TOY_TGT_CODE:
        try:
            canonical_code(code)
        except VepoError as exc:
            raise VepoError(f"config error: {key}: {exc}") from None
