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


def test_real_languages_get_labse_and_an_offline_miss_says_how_to_provide_it(tmp_path):
    from vepo.errors import VepoError
    from vepo.rewards.encoders import REAL_LANGUAGE_ENCODER, resolve_semantic_models
    from vepo.rewards.semantic import SemanticSimilarity

    reward = OmegaConf.to_object(compose_config("train", ["algo=vepo"])).reward
    resolved, models = resolve_semantic_models(reward, "bod_Tibt", tmp_path)
    assert models == {"semantic": REAL_LANGUAGE_ENCODER}
    assert resolved.terms["semantic"].params["model"] == REAL_LANGUAGE_ENCODER
    assert reward.terms["semantic"].params["model"] == "auto"  # the run's config keeps what the user asked for
    assert not (tmp_path / "models").exists()  # no toy encoder for a real language
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(REAL_LANGUAGE_ENCODER, "modules.json"), str):
        return  # this machine has LaBSE cached: nothing is missing, so there is no error to check
    with pytest.raises(VepoError) as err:  # HF_HUB_OFFLINE=1 and no LaBSE in the cache
        SemanticSimilarity(model=REAL_LANGUAGE_ENCODER)
    message = str(err.value)
    assert "\n" not in message and "huggingface-cli download" in message
    assert "reward.terms.semantic.params.model=" in message
