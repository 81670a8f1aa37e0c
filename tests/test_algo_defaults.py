"""conf/algo/*.yaml hold only what differs from the objectives' code defaults (vepo/objectives/ is the one source),
and what the run builds is what the code's defaults plus the overrides say."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from vepo.training.checks import check_train_config
from vepo.config.paths import config_dir
from vepo.config.schema import AlgoTrainerConfig
from vepo.config.validate import compose_config
from vepo.errors import VepoError
from vepo.objectives.dppo import DEFAULT_DELTA
from vepo.objectives.registry import _lookup, allowed_params
from vepo.training.objective_setup import build_objective
from vepo.training.plan import objective_summary

ALGO_YAMLS = sorted((Path(config_dir()) / "algo").glob("*.yaml"))


def _field_defaults(cls) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.init and f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.init and f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


@pytest.mark.parametrize("path", ALGO_YAMLS, ids=lambda p: p.stem)
def test_algo_yaml_restates_no_code_default(path):
    doc = yaml.safe_load(path.read_text())
    assert doc["name"] == path.stem
    params, trainer = doc.get("params") or {}, doc.get("trainer") or {}
    assert set(doc) <= {"defaults", "name", "params", "trainer"}
    if doc["name"] == "sft":
        assert not params
        return
    assert set(params) <= set(allowed_params(doc["name"])), f"{path.name}: not constructor arguments"
    defaults = _field_defaults(_lookup(doc["name"]))
    copies = sorted(k for k, v in params.items() if v == defaults[k])
    assert not copies, f"{path.name} restates code defaults {copies}: delete them (vepo/objectives/ is the source)"
    trainer_defaults = _field_defaults(AlgoTrainerConfig)
    assert set(trainer) <= set(trainer_defaults)
    copies = sorted(k for k, v in trainer.items() if v == trainer_defaults[k])
    assert not copies, f"{path.name} restates AlgoTrainerConfig defaults {copies}"


def _objective(overrides: list[str]):
    cfg = compose_config("train", overrides)
    return build_objective(cfg.algo.name, OmegaConf.to_container(cfg.algo.params, resolve=True),
                           cfg.train.max_completion_length)


@pytest.mark.parametrize("divergence", ["binary_tv", "binary_kl", "topk_kl"])
def test_dppo_av_thresholds_follow_the_divergence(divergence):
    # The yaml once pinned TV's 0.15/0.3, so binary_kl silently kept TV thresholds.
    obj = _objective(["algo=dppo_av", f"algo.params.divergence={divergence}"])
    delta = DEFAULT_DELTA[divergence]
    assert (obj.divergence, obj.delta_low, obj.delta_high, obj.delta_max) == (divergence, delta, delta, 2 * delta)


def test_params_override_without_plus_and_typos_still_fail():
    obj = _objective(["algo=grpo", "algo.params.beta=0.1", "train.max_completion_length=33"])
    assert (obj.beta, obj.epsilon_low) == (0.1, 0.2)
    assert _objective(["algo=dr_grpo", "train.max_completion_length=33"]).max_completion_length == 33
    with pytest.raises(VepoError, match="allowed: .*epsilon_low"):
        check_train_config(compose_config("train", ["algo=grpo", "algo.params.epsilon_typo=0.1"]))


def test_dry_run_shows_the_effective_objective_params():
    cfg = OmegaConf.to_object(compose_config("train", ["algo=dppo_av", "algo.params.divergence=binary_kl"]))
    text = objective_summary(cfg)
    assert "divergence=binary_kl" in text and "delta_low=0.05" in text and "delta_max=0.1" in text
    espo = OmegaConf.to_object(compose_config("train", ["algo=espo"]))
    assert "vocab_size=<the tokenizer's>" in objective_summary(espo) and "alpha=0.02" in objective_summary(espo)
