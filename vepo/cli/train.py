"""`vepo train`: compose the train config, run the training pipeline in the Hydra run directory."""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vepo.cli.hydra_runner import run_hydra, user_errors
from vepo.cli.sweep import recorded_job


def _task(cfg: DictConfig) -> None:
    from vepo.training.pipeline import run_training

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # Single run: one-line error, exit 2. Multirun: the failure is recorded and the other jobs still run.
    with user_errors(), recorded_job(run_dir):
        run_training(OmegaConf.to_object(cfg), run_dir)


def run(args: list[str]) -> None:
    from vepo.config.checks import check_train_config
    from vepo.training.resume_args import expand_resume

    with user_errors():
        args = expand_resume(args)
    run_hydra("train", "train", _task, args, check=check_train_config)
