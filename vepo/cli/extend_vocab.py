"""`vepo extend-vocab`: compose the config, extend the model's vocabulary, save the checkpoint in the run dir.
(`model=<id or path>` and `lang=<code>` are the shorthands of vepo/config/shorthands.py, applied by run_hydra.)"""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vepo.cli.hydra_runner import run_hydra, user_errors


def _task(cfg: DictConfig) -> None:
    from vepo.tokenization.extend_vocab import run_extend_vocab

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with user_errors():
        run_extend_vocab(OmegaConf.to_object(cfg), run_dir)


def run(args: list[str]) -> None:
    from vepo.tokenization.extend_vocab import check_extend_vocab_config

    run_hydra("extend-vocab", "extend_vocab", _task, args, check=check_extend_vocab_config)
