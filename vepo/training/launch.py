"""Multi-process training: the Hydra job (one process) writes the resolved config and starts the workers with
accelerate launch or torchrun; workers never import Hydra (each would compose its own run directory). Rank 0 writes
the run directory's files and logs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from vepo.config.schema import HardwareConfig, TrainConfig
from vepo.errors import VepoError
from vepo.utils.devices import check_cuda

LAUNCHERS = ("none", "accelerate", "torchrun")
STRATEGIES = ("none", "ddp", "zero2", "zero3", "fsdp")
WORKER_MODULE = "vepo.training.worker"


def check_hardware(hw: HardwareConfig) -> None:
    if hw.launcher not in LAUNCHERS:
        raise VepoError(f"config error: hardware.launcher='{hw.launcher}' is not one of {', '.join(LAUNCHERS)}")
    if hw.distributed not in STRATEGIES:
        raise VepoError(f"config error: hardware.distributed='{hw.distributed}' is not one of "
                        f"{', '.join(STRATEGIES)}")
    if hw.distributed in ("zero2", "zero3", "fsdp") and hw.launcher != "accelerate":
        raise VepoError(f"config error: hardware.distributed={hw.distributed} needs hardware.launcher=accelerate")
    if hw.device == "cpu" and hw.distributed not in ("none", "ddp"):
        raise VepoError(f"config error: hardware.distributed={hw.distributed} needs GPUs (hardware.device=cuda)")


def check_gpus_present(cfg) -> None:
    """Every `cuda` device the run asks for exists on this machine (its hardware profile's processes included)."""
    hw = cfg.hardware
    needed = (hw.num_processes or 1) if hw.launcher != "none" else 1
    check_cuda("hardware.device", hw.device, needed, fix=f"use hardware=cpu instead of hardware={hw.name}")
    check_cuda("reward.device", cfg.reward.device, fix="set reward.device=cpu (or policy)")
    check_cuda("eval.comet_device", cfg.eval.comet_device, fix="set eval.comet_device=cpu")


def world_size(hw: HardwareConfig) -> int:
    if hw.num_processes is not None:
        return hw.num_processes
    import torch

    return max(torch.cuda.device_count(), 1)


def in_worker() -> bool:
    return "LOCAL_RANK" in os.environ


def needs_launch(cfg: TrainConfig) -> bool:
    return cfg.hardware.launcher != "none" and not in_worker()


def accelerate_config(hw: HardwareConfig, processes: int) -> dict:
    """accelerate's config file for the profile (`accelerate launch --config_file`)."""
    config = {"compute_environment": "LOCAL_MACHINE", "num_machines": 1, "machine_rank": 0,
              "num_processes": processes, "main_training_function": "main",
              "mixed_precision": "bf16" if hw.bf16 else "no", "use_cpu": hw.device == "cpu",
              "main_process_port": hw.main_process_port, "distributed_type": "MULTI_GPU"}
    if hw.device == "cpu":
        config["distributed_type"] = "MULTI_CPU"
    if hw.distributed in ("zero2", "zero3"):
        config["distributed_type"] = "DEEPSPEED"
        config["deepspeed_config"] = {"zero_stage": 2 if hw.distributed == "zero2" else 3,
                                      "offload_optimizer_device": "none", "offload_param_device": "none",
                                      "zero3_init_flag": hw.distributed == "zero3",
                                      "zero3_save_16bit_model": hw.distributed == "zero3",
                                      "gradient_accumulation_steps": "auto", "gradient_clipping": "auto"}
    if hw.distributed == "fsdp":
        config["distributed_type"] = "FSDP"
        config["fsdp_config"] = {"fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                                 "fsdp_reshard_after_forward": True, "fsdp_state_dict_type": "FULL_STATE_DICT",
                                 "fsdp_cpu_ram_efficient_loading": True, "fsdp_activation_checkpointing": False}
    return config


def launch_command(cfg: TrainConfig, run_dir: Path) -> list[str]:
    """The exact command that starts the workers (printed by --dry-run)."""
    hw = cfg.hardware
    processes = world_size(hw)
    worker = ["-m", WORKER_MODULE, str(run_dir)]
    if hw.launcher == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                *worker]
    config_file = run_dir / "launch" / "accelerate.yaml"
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config_file), *worker]


def launch(cfg: TrainConfig, run_dir: Path) -> None:
    """Write the launch files and run the workers; a failing worker fails the job."""
    hw = cfg.hardware
    launch_dir = run_dir / "launch"
    launch_dir.mkdir(parents=True, exist_ok=True)
    if hw.launcher == "accelerate":
        if hw.distributed in ("zero2", "zero3") and shutil.which("deepspeed") is None:
            try:
                import deepspeed  # noqa: F401
            except ImportError:
                raise VepoError(f"hardware={hw.name} needs DeepSpeed: `uv pip install deepspeed` on the GPU "
                                f"machine, or use hardware=multi_gpu / fsdp") from None
        (launch_dir / "accelerate.yaml").write_text(yaml.safe_dump(accelerate_config(hw, world_size(hw))))
    command = launch_command(cfg, run_dir)
    (launch_dir / "command.txt").write_text(" ".join(command) + "\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(hw.num_threads or 1), TOKENIZERS_PARALLELISM="false")
    result = subprocess.run(command, env=env)
    if result.returncode != 0:
        raise VepoError(f"a training worker failed (exit code {result.returncode}); see {run_dir}/train.log and "
                        f"{launch_dir}/")
