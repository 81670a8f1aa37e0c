"""`vepo eval`: score a checkpoint on the toy devtest and write a JSON result."""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vepo.cli.hydra_runner import run_hydra, user_errors


def _task(cfg: DictConfig) -> None:
    from vepo.evaluation.eval_command import run_eval

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with user_errors():
        run_eval(OmegaConf.to_object(cfg), run_dir)


def run(args: list[str]) -> None:
    from vepo.config.checks import check_eval_config

    run_hydra("eval", "eval", _task, args, check=check_eval_config)
