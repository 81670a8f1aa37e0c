"""`vepo extend-vocab`: compose the config, extend the model's vocabulary, save the checkpoint in the run dir."""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vepo.cli.hydra_runner import run_hydra, user_errors
from vepo.config.paths import config_dir

# `model=<id or path>` and `lang=<code>` name a value, not a config-group option: Hydra would reject them, so they
# become model.path / lang.tgt unless the value is an option of the group (model=qwen2.5-0.5b).
_SHORT_FORMS = {"model": "model.path", "lang": "lang.tgt"}


def expand_short_forms(args: list[str]) -> list[str]:
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key in _SHORT_FORMS:
            options = {p.stem for p in (config_dir() / key).glob("*.yaml")}
            if not set(value.split(",")) <= options:
                arg = f"{_SHORT_FORMS[key]}={value}"
        out.append(arg)
    return out


def _task(cfg: DictConfig) -> None:
    from vepo.tokenization.extend_vocab import run_extend_vocab

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with user_errors():
        run_extend_vocab(OmegaConf.to_object(cfg), run_dir)


def run(args: list[str]) -> None:
    from vepo.tokenization.extend_vocab import check_extend_vocab_config

    run_hydra("extend-vocab", "extend_vocab", _task, expand_short_forms(args), check=check_extend_vocab_config)
