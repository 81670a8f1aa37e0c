"""`algo=vepo` is the whole VEPO method: its objective composed with its reward (gates + the entropy-coupled
literal/semantic balance), unless the command line picks another reward."""

from __future__ import annotations

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import run_vepo
from vepo.config.validate import compose_config
from vepo.training.plan import reward_summary


@pytest.mark.parametrize(("overrides", "reward"), [
    (["algo=vepo"], "vepo"),
    (["algo=vepo", "reward=chrf"], "chrf"),  # the ablation stays one override away
    (["reward=semantic", "algo=vepo"], "semantic"),  # the command line wins whatever its order
    (["algo=grpo"], "chrf"),
    (["algo=dapo"], "chrf"),
    ([], "chrf"),
])
def test_algorithm_brings_its_papers_reward(overrides, reward):
    cfg = compose_config("train", overrides)
    assert cfg.reward.name == reward
    if reward == "vepo":
        assert cfg.reward.balance.schedule == "entropy_coupled"
        assert set(cfg.reward.gates) >= {"length", "format", "script", "copy"}
        assert cfg.reward.terms.semantic.params.model == "auto"


def test_cfg_job_shows_the_composed_reward():
    proc = run_vepo("train", "algo=vepo", "--cfg", "job", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["algo"]["name"] == "vepo" and cfg["reward"]["name"] == "vepo"
    assert cfg["reward"]["balance"]["schedule"] == "entropy_coupled"


def test_dry_run_names_the_semantic_encoder():
    toy = OmegaConf.to_object(compose_config("train", ["algo=vepo"]))
    assert "toy encoder" in reward_summary(toy) and "entropy_coupled" in reward_summary(toy)
    chrf = OmegaConf.to_object(compose_config("train", []))
    assert reward_summary(chrf) == "chrf: 1·chrf"
