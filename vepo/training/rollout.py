"""The `rollout` group: which generation backend TRL uses for RL completions (imports nothing heavy: the config
checks use it before a job starts)."""

from __future__ import annotations

from vepo.config.schema import TrainConfig
from vepo.errors import VepoError

ROLLOUTS = {"hf": None, "vllm_colocate": "colocate", "vllm_server": "server"}


def rollout_args(cfg: TrainConfig) -> dict:
    """TRL's generation backend for the `rollout` group."""
    r = cfg.rollout
    if r.name not in ROLLOUTS:
        raise VepoError(f"config error: rollout={r.name} is not one of {', '.join(ROLLOUTS)}")
    if r.name == "hf":
        return {"use_vllm": False}
    # The importance weight between the training model and vLLM's sampler reaches every objective as
    # PolicyBatch.is_weight (vepo/training/trainer.py); keep TRL computing it.
    return {"use_vllm": True, "vllm_mode": ROLLOUTS[r.name], "vllm_importance_sampling_correction": True,
            "vllm_gpu_memory_utilization": r.vllm_gpu_memory_utilization,
            "vllm_server_host": r.server_host, "vllm_server_port": r.server_port}
