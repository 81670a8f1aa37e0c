"""`vepo train algo=<name>` works on the toy default for every objective (and algo=sft), in one Hydra multirun, and
the clip- and divergence-based objectives' trust regions act with the default off-policy reuse."""

from __future__ import annotations

import json

import yaml

from tests.conftest import SMOKE_OVERRIDES, run_vepo
from vepo.objectives import list_objectives

# The metric each algorithm must report under objective/… in metrics.jsonl (docs/design/algorithms.md "Metrics").
SIGNATURE_METRIC = {
    "grpo": "objective/kl", "dapo": "objective/clip_frac_high", "dr_grpo": "objective/clip_frac",
    "gspo": "objective/clip_frac", "espo": "objective/clip_frac/g0", "egspo": "objective/gated_frac",
    "vepo": "objective/lambda", "dppo_binary_tv": "objective/masked_frac_pos",
    "dppo_binary_kl": "objective/masked_frac_neg", "dppo_topk_tv": "objective/div_mean",
    "dppo_topk_kl": "objective/div_mean", "dppo_av": "objective/masked_frac/common",
}


# Algorithms whose clip or trust-region mask must act in a default run (ratio ≠ 1 and a clip/mask fraction > 0 at
# some step): the default train.steps_per_generation=2 makes every second optimiser step off-policy.
TRUST_REGION_ACTS = ("vepo", "espo", "dapo", "dppo_binary_tv", "dppo_av")
RL_STEPS = 4


def test_every_algorithm_trains(tmp_path):
    names = list_objectives()
    assert set(SIGNATURE_METRIC) == set(names)
    sweep = tmp_path / "sweep"
    # 40 SFT steps and an RL learning rate of 1e-3: a policy confident enough, and a step large enough, that one update
    # moves some probabilities past every trust region (DPPO's |p - m| > 0.15 included) whatever the sampler drew; at
    # the default 3e-4 that depends on which 128 tokens a rollout happened to sample.
    proc = run_vepo("train", "-m", f"algo={','.join(names + ['sft'])}", *SMOKE_OVERRIDES, "train.sft_steps=40",
                    "train.rl_lr=1e-3", f"train.rl_steps={RL_STEPS}", "train.evaluate_after_sft=false",
                    f"hydra.sweep.dir={sweep}", timeout=2400)
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
        assert [r["step"] for r in lines] == list(range(1, RL_STEPS + 1)), algo
        assert SIGNATURE_METRIC[algo] in lines[-1], (algo, sorted(lines[-1]))
        assert lines[-1]["clip_frac"] is not None, algo
        # Steps 1 and 3 start a rollout (on-policy: ratio 1, nothing moved); 2 and 4 reuse it.
        assert [r["diag/kl_old"] < 1e-6 for r in lines] == [True, False, True, False], algo
        assert "diag/entropy_q5/grad_share" in lines[-1] and "diag/rarity_q1/token_share" in lines[-1], algo
        if algo in TRUST_REGION_ACTS:
            assert any(abs(r["objective/ratio_mean"] - 1.0) > 1e-4 for r in lines), algo
            assert any(r["clip_frac"] > 0.0 for r in lines), (algo, [r["clip_frac"] for r in lines])
        state = json.loads((job / "checkpoint" / "objective_state.json").read_text())
        assert state["objective"] == algo
        if algo == "vepo":
            assert state["state"]["step"] == RL_STEPS and state["state"]["H0"] is not None
            # The whole method: VEPO's reward came with the algorithm, scored by the toy encoder, balanced by entropy.
            assert yaml.safe_load((job / "config.yaml").read_text())["reward"]["name"] == "vepo"
            assert (job / "models" / "semantic" / "modules.json").is_file()
            rollout = lines[0]
            for key in ("reward/semantic/mean", "reward/weight/semantic", "reward/weight/chrf", "reward/gate/mean",
                        "reward/script/mean", "reward/copy/mean", "reward/length/mean", "reward/lid/mean"):
                assert key in rollout, key
            assert abs(rollout["reward/weight/semantic"] + rollout["reward/weight/chrf"] - 1.0) < 1e-6  # fp32 logs
            summary = json.loads((job / "summary.json").read_text())
            assert summary["reward_models"] == {"semantic": str(job / "models" / "semantic")}
            assert rollout["reward/lid/unsupported"] == 1.0  # toy_Tibt: no detector knows it, counted, neutral
        if algo == "dppo_av":
            assert list((job / "cache").glob("token_counts_*.safetensors"))
            # The yaml holds no thresholds: the run records the effective ones, the binary_tv defaults.
            params = json.loads((job / "summary.json").read_text())["objective_params"]
            assert (params["divergence"], params["delta_high"]) == ("binary_tv", 0.15), params
        if algo == "dapo":
            rollout_step = lines[-2]  # rewards and dynamic sampling are logged on the steps that generate
            assert "rewards/overlong/mean" in rollout_step and "dynamic_sampling/rounds" in rollout_step
    assert seen == set(names) | {"sft"}
