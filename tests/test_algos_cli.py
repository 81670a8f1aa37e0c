"""`vepo train algo=<name>` works on the toy default for every objective (and algo=sft), in one Hydra multirun."""

from __future__ import annotations

import json

import yaml

from tests.conftest import SMOKE_OVERRIDES, run_vepo
from vepo.objectives import list_objectives

# The metric each algorithm must report under objective/… in metrics.jsonl (ALGORITHMS.md "Metrics").
SIGNATURE_METRIC = {
    "grpo": "objective/kl", "dapo": "objective/clip_frac_high", "dr_grpo": "objective/clip_frac",
    "gspo": "objective/clip_frac", "espo": "objective/clip_frac/g0", "egspo": "objective/gated_frac",
    "vepo": "objective/lambda", "dppo_binary_tv": "objective/masked_frac_pos",
    "dppo_binary_kl": "objective/masked_frac_neg", "dppo_topk_tv": "objective/div_mean",
    "dppo_topk_kl": "objective/div_mean", "dppo_av": "objective/masked_frac/common",
}


def test_every_algorithm_trains(tmp_path):
    names = list_objectives()
    assert set(SIGNATURE_METRIC) == set(names)
    sweep = tmp_path / "sweep"
    proc = run_vepo("train", "-m", f"algo={','.join(names + ['sft'])}", *SMOKE_OVERRIDES,
                    "train.evaluate_after_sft=false", f"hydra.sweep.dir={sweep}", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = set()
    for job in (p for p in sweep.iterdir() if (p / "config.yaml").exists()):
        algo = yaml.safe_load((job / "config.yaml").read_text())["algo"]["name"]
        seen.add(algo)
        assert (job / "checkpoint" / "model.safetensors").is_file(), algo
        if algo == "sft":
            assert not (job / "metrics.jsonl").exists()
            assert json.loads((job / "summary.json").read_text())["chrf_sft"] is not None
            continue
        lines = [json.loads(x) for x in (job / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in lines] == [1, 2], algo
        assert SIGNATURE_METRIC[algo] in lines[-1], (algo, sorted(lines[-1]))
        assert lines[-1]["clip_frac"] is not None, algo
        state = json.loads((job / "checkpoint" / "objective_state.json").read_text())
        assert state["objective"] == algo
        if algo == "vepo":
            assert state["state"]["step"] == 2 and state["state"]["H0"] is not None
        if algo == "dppo_av":
            assert list((job / "cache").glob("token_counts_*.safetensors"))
        if algo == "dapo":
            assert "rewards/overlong/mean" in lines[-1] and "dynamic_sampling/rounds" in lines[-1]
    assert seen == set(names) | {"sft"}
