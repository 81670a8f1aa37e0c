"""Config → TRL/transformers arguments: the ones the SFT and RL stages share (hardware, seeding, logging, no HF
checkpoints), the LoRA adapter (`model.lora`) and the RL generation backend (`rollout` group). Imports nothing heavy:
the config checks use it before a job starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vepo.config.schema import LoraSettings, TrainConfig
from vepo.errors import VepoError


def common_trainer_args(cfg: TrainConfig, run_dir: Path, stage: str) -> dict[str, Any]:
    return dict(
        output_dir=str(run_dir / "trainer" / stage),
        weight_decay=cfg.train.weight_decay,
        max_grad_norm=cfg.train.max_grad_norm,
        # Resumable checkpoints every train.save_steps (0: none); vepo saves each stage's final model itself.
        save_strategy="steps" if cfg.train.save_steps > 0 else "no",
        save_steps=cfg.train.save_steps or 500,
        save_total_limit=cfg.train.save_total_limit,
        report_to="none",
        use_cpu=cfg.hardware.device == "cpu",
        bf16=cfg.hardware.bf16,
        # transformers 5 renamed gradient_checkpointing; TRL still defaults the old name to True (and warns).
        activation_checkpointing=cfg.hardware.gradient_checkpointing,
        gradient_checkpointing=None,
        seed=cfg.seed,
        data_seed=cfg.seed,
        # vepo's progress display (vepo/training/progress.py) replaces transformers' bar and printed log dicts.
        disable_tqdm=True,
        # Log a NaN/inf loss as it is (transformers would log the running mean instead): the guard must see it.
        logging_nan_inf_filter=False,
    )


def peft_config(lora: LoraSettings):
    if lora.r <= 0:
        return None
    from peft import LoraConfig

    modules = lora.target_modules
    # PEFT takes the string "all-linear" (every linear layer but the output head), or a list of module names.
    target = modules[0] if list(modules) == ["all-linear"] else list(modules)
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=target,
                      task_type="CAUSAL_LM")


ROLLOUTS = {"hf": None, "static": None, "vllm_colocate": "colocate", "vllm_server": "server"}


def rollout_args(cfg: TrainConfig) -> dict:
    """TRL's generation backend for the `rollout` group."""
    r = cfg.rollout
    if r.name not in ROLLOUTS:
        raise VepoError(f"config error: rollout={r.name} is not one of {', '.join(ROLLOUTS)}")
    if ROLLOUTS[r.name] is None:  # in the trainer: model.generate (hf) or vepo's static engine (trainer.py)
        return {"use_vllm": False}
    # The importance weight between the training model and vLLM's sampler reaches every objective as
    # PolicyBatch.is_weight (vepo/training/trainer.py); keep TRL computing it.
    return {"use_vllm": True, "vllm_mode": ROLLOUTS[r.name], "vllm_importance_sampling_correction": True,
            "vllm_gpu_memory_utilization": r.vllm_gpu_memory_utilization,
            "vllm_server_host": r.server_host, "vllm_server_port": r.server_port}
