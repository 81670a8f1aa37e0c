"""`vepo train` end to end (2 SFT + 2 RL steps): every artefact of a run directory is written and readable."""

from __future__ import annotations

import json

import yaml
from safetensors.torch import load_file

from tests.conftest import SMOKE_OVERRIDES, run_vepo

STEP_KEYS = {"step", "entropy_mean", "clip_frac", "step_seconds", "diag/kl_old", "diag/rollout_step"}
ROLLOUT_KEYS = {"reward_mean", "reward_std", "completion_length_mean"}  # on the steps that generate


def test_run_directory_artefacts(smoke_run):
    run = smoke_run
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["train"]["rl_steps"] == 2 and cfg["algo"]["name"] == "grpo"
    assert (run / ".hydra" / "overrides.yaml").is_file()

    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in lines] == [1, 2]  # one line per optimiser step
    for rec in lines:
        assert STEP_KEYS <= rec.keys(), STEP_KEYS - rec.keys()
        assert rec["step_seconds"] > 0
    # Default reuse: step 1 generates the rollout (on-policy), step 2 trains on it again and closes the cycle.
    first, second = lines
    assert ROLLOUT_KEYS <= first.keys() and not ROLLOUT_KEYS & second.keys()
    assert 0.0 <= first["reward_mean"] <= 1.0
    assert (first["diag/rollout_step"], second["diag/rollout_step"]) == (0, 1)
    assert "tokens_per_second" not in first and second["tokens_per_second"] > 0

    ckpt = run / "checkpoint"
    assert (ckpt / "tokenizer.json").is_file()
    weights = load_file(ckpt / "model.safetensors")
    assert weights and all(t.isfinite().all() for t in weights.values())

    for stage in ("sft", "rl"):
        res = json.loads((run / "results" / f"{stage}.json").read_text())
        chrf = res["metrics"]["chrf++"]
        assert chrf["signature"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:2")
        assert 0.0 <= chrf["score"] <= 100.0
        assert res["n_segments"] == 8 == len(res["hypotheses"]) == len(res["segments"]["chrf++"])
        assert res["provenance"]["vepo_version"]

    summary = json.loads((run / "summary.json").read_text())
    assert summary["rl_steps_logged"] == 2
    assert summary["chrf_rl"] == json.loads((run / "results" / "rl.json").read_text())["metrics"]["chrf++"]["score"]
    flores = run / "data" / "flores"
    assert len((flores / "devtest" / "eng_Latn.devtest").read_text().splitlines()) == 8


def test_multirun_makes_two_run_directories(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_vepo("train", "-m", "seed=1,2", *SMOKE_OVERRIDES, "train.evaluate_after_sft=false",
                    f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "config.yaml").exists())
    assert len(jobs) == 2
    seeds = sorted(yaml.safe_load((j / "config.yaml").read_text())["seed"] for j in jobs)
    assert seeds == [1, 2]
    for job in jobs:
        assert len((job / "metrics.jsonl").read_text().splitlines()) == 2
        assert (job / "checkpoint" / "model.safetensors").is_file()
