"""`algo=vepo` is the whole VEPO method: its objective composed with its reward (gates + the entropy-coupled
literal/semantic balance), unless the command line picks another reward."""

from __future__ import annotations

import json
from pathlib import Path

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
        assert cfg.reward.terms.semantic.params.model == "auto" and cfg.reward.terms.semantic.params.tau == "auto"
        assert "lid" in cfg.reward.gates  # the wrong language is caught, not only the wrong script


def test_cfg_job_shows_the_composed_reward():
    proc = run_vepo("train", "algo=vepo", "--cfg", "job", timeout=1800)  # generous: a busy machine is slow, not wrong
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
    assert resolved.terms["semantic"].params["tau"] == 0.5
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


def test_toy_language_gets_the_toy_encoder_from_the_user_cache(tmp_path):
    import os

    from vepo.rewards.encoders import resolve_semantic_models
    from vepo.rewards.semantic import SemanticSimilarity
    from vepo.rewards.toy_encoder import MARKER, RECOMMENDED_TAU

    cache = Path(os.environ["VEPO_CACHE_DIR"])  # the session's (tests/conftest.py): other tests may have filled it
    cfg = OmegaConf.to_object(compose_config("train", ["reward=semantic", "data.n_train=64", "data.n_dev=8",
                                                       "data.n_devtest=8"]))
    resolved, models = resolve_semantic_models(cfg.reward, "toy_Tibt", tmp_path / "run1", cfg.data)
    encoder_dir = tmp_path / "run1" / "models" / "semantic"
    assert models == {"semantic": str(encoder_dir)} and (encoder_dir / MARKER).is_file()
    assert resolved.terms["semantic"].params["tau"] == RECOMMENDED_TAU
    [cached] = [d for d in cache.iterdir() if (d / MARKER).is_file()
                and json.loads((d / MARKER).read_text())["n_train"] == 64]
    # A second run copies the cached encoder instead of training it again: same weights, same marker.
    _, models2 = resolve_semantic_models(cfg.reward, "toy_Tibt", tmp_path / "run2", cfg.data)
    second = tmp_path / "run2" / "models" / "semantic"
    assert (second / MARKER).read_text() == (cached / MARKER).read_text() == (encoder_dir / MARKER).read_text()
    # The resolved component scores with it: the reference itself gets the full reward, an unrelated sentence none.
    from vepo.data.toy import build_toy_corpus

    (src, ref), (_, other) = build_toy_corpus(0, 64, 8, 8).devtest[:2]
    sem = SemanticSimilarity(**resolved.terms["semantic"].params)
    same, unrelated = sem.score_batch([src, src], [ref, other], [ref, ref], ["eng_Latn"] * 2, ["toy_Tibt"] * 2)
    assert same > 0.9 and unrelated < same
