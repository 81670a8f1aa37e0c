"""`vepo tokenize-stats`: compose the config, measure the tokenizers on FLORES, write the results in the run dir."""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vepo.cli.hydra_runner import run_hydra, user_errors


def _task(cfg: DictConfig) -> None:
    from vepo.tokenization.tokenize_stats import run_tokenize_stats

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with user_errors():
        run_tokenize_stats(OmegaConf.to_object(cfg), run_dir)


def run(args: list[str]) -> None:
    from vepo.tokenization.tokenize_stats import check_tokenize_stats_config

    run_hydra("tokenize-stats", "tokenize_stats", _task, args, check=check_tokenize_stats_config)
