"""`vepo train`: compose the train config, run the training pipeline in the Hydra run directory."""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vepo.cli.hydra_runner import run_hydra, user_errors
from vepo.cli.sweep import recorded_job


def _task(cfg: DictConfig) -> None:
    from vepo.training.train_command import run_training

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # Single run: one-line error, exit 2. Multirun: the failure is recorded and the other jobs still run.
    with user_errors(), recorded_job(run_dir):
        run_training(OmegaConf.to_object(cfg), run_dir)


DRY_RUN = "--dry-run"


def _dry_run(args: list[str]) -> None:
    """Compose (and check) the config exactly as a run would, print the plan, create nothing."""
    from vepo.training.checks import check_train_config
    from vepo.config.shorthands import expand_shorthands
    from vepo.config.validate import compose_config, split_overrides
    from vepo.training.plan import print_plan, training_plan

    with user_errors():
        overrides = [o for o in split_overrides(expand_shorthands(args)) if not o.startswith("hydra.")]
        cfg = compose_config("train", overrides)
        check_train_config(cfg)
        print_plan(training_plan(OmegaConf.to_object(cfg)))


def run(args: list[str]) -> None:
    from vepo.training.checks import check_train_config
    from vepo.config.run_dir_rules import guard_train_dirs
    from vepo.config.shorthands import expand_resume

    with user_errors():
        args = expand_resume(args)
    if DRY_RUN in args:
        _dry_run([a for a in args if a != DRY_RUN])
        return
    run_hydra("train", "train", _task, args, check=check_train_config, guard=guard_train_dirs)
