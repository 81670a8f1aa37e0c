"""Hardware profiles and multi-process launch (with LoRA adapters), and `vepo train --dry-run`."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import SMOKE_OVERRIDES, run_vepo
from vepo.config.schema import HardwareConfig
from vepo.errors import VepoError
from vepo.training.launch import accelerate_config, check_hardware


def test_two_cpu_processes_with_lora_form_one_group_rank0_writes_and_adapters_equal_merged(tmp_path):
    """One run covers all three: 2 CPU processes (torchrun, gloo) training LoRA adapters, merged on request, with
    VEPO's λ controller and the reward balance's entropy state, which must agree on both ranks."""
    from vepo.models.loading import load_model

    run_dir = tmp_path / "ddp"
    proc = run_vepo("train", "hardware=cpu_ddp", "model.lora.r=4", "model.lora.merge=true", *SMOKE_OVERRIDES,
                    "train.rl_steps=3", "algo=vepo",
                    # After 2 SFT steps every output fails VEPO's gates (reward 0, no gradient): keep its balanced
                    # chrF/semantic mix (the toy encoder is resolved on both ranks) without the gates.
                    *(f"~reward.gates.{g}" for g in ("length", "format", "script", "copy", "lid")),
                    f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((run_dir / "launch" / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and {r["backend"] for r in ranks} == {"gloo"}
    assert "nproc_per_node=2" in (run_dir / "launch" / "command.txt").read_text()
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # rank 0 alone logs: no duplicated lines
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rl_steps_logged"] == 3 and summary["chrf_rl"] is not None
    # Controllers were fed metrics reduced over both ranks: identical state, and it is what the checkpoint holds.
    states = [json.loads((run_dir / "launch" / f"objective_state-rank{r}.json").read_text()) for r in (0, 1)]
    assert states[0] == states[1]
    assert states[0]["state"]["step"] == 3 and states[0]["state"]["lambda"] != 0.5  # λ moved from λ_0
    assert states[0]["reward_balance"]["H0"] is not None
    saved = json.loads((run_dir / "checkpoint" / "objective_state.json").read_text())
    assert saved["state"] == states[0]["state"]
    # LoRA: adapters saved beside the merged model, and applying them to the base gives the merged model.
    adapters, merged = run_dir / "checkpoint-adapter", run_dir / "checkpoint"
    assert (adapters / "adapter_config.json").is_file() and (merged / "model.safetensors").is_file()
    x = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    with torch.no_grad():
        via_adapters = load_model(adapters)(x).logits
        full = load_model(merged)(x).logits
        sft = load_model(run_dir / "models" / "sft")(x).logits
    torch.testing.assert_close(via_adapters, full, atol=1e-5, rtol=1e-5)
    assert (full - sft).abs().max() > 1e-4  # the RL adapters changed the model


def test_profiles_make_accelerate_configs_and_reject_impossible_combinations():
    zero3 = accelerate_config(HardwareConfig(device="cuda", bf16=True, launcher="accelerate", distributed="zero3"), 8)
    assert zero3["distributed_type"] == "DEEPSPEED" and zero3["deepspeed_config"]["zero_stage"] == 3
    assert zero3["num_processes"] == 8 and zero3["mixed_precision"] == "bf16"
    fsdp = accelerate_config(HardwareConfig(device="cuda", launcher="accelerate", distributed="fsdp"), 4)
    assert fsdp["distributed_type"] == "FSDP" and fsdp["fsdp_config"]["fsdp_auto_wrap_policy"]
    with pytest.raises(VepoError, match="needs GPUs"):
        check_hardware(HardwareConfig(device="cpu", launcher="accelerate", distributed="zero2"))
    with pytest.raises(VepoError, match="needs hardware.launcher=accelerate"):
        check_hardware(HardwareConfig(device="cuda", launcher="torchrun", distributed="fsdp"))


def test_dry_run_plan_shows_batch_split_and_launch_command():
    from omegaconf import OmegaConf

    from vepo.config.validate import compose_config
    from vepo.training.plan import training_plan

    cfg = compose_config("train", ["hardware=multi_gpu", "hardware.num_processes=4", "train.save_steps=50"])
    plan = training_plan(OmegaConf.to_object(cfg))
    assert "16 prompts × 8 generations = 128 completions" in plan["RL"]
    assert plan["effective batch"] == "128 completions = 4 process(es) × 32 per device × 1 accumulation"
    assert "accelerate.commands.launch --config_file" in plan["launch"] and "every 50 steps" in plan["checkpoints"]
    assert plan["parameters"].endswith(" M")
    assert plan["off-policy reuse"].startswith("steps_per_generation=2, num_iterations=1: one rollout of 32 prompts "
                                               "feeds 2 optimiser step(s); 1 of every 2 steps are off-policy")
    on_policy = compose_config("train", ["train.steps_per_generation=1"])
    assert "on-policy" in training_plan(OmegaConf.to_object(on_policy))["off-policy reuse"]


def test_off_policy_keys_are_validated_and_reach_trl(tmp_path):
    from omegaconf import OmegaConf

    from vepo.training.checks import check_train_config
    from vepo.config.validate import compose_config
    from vepo.objectives import get_objective
    from vepo.training.rl import grpo_config

    with pytest.raises(VepoError, match=r"train.num_iterations=0 must be >= 1"):
        check_train_config(compose_config("train", ["train.num_iterations=0"]))
    with pytest.raises(VepoError, match="train.steps_per_generation"):
        compose_config("train", ["train.steps_per_generation=two"])
    cfg = OmegaConf.to_object(compose_config("train", ["train.steps_per_generation=3", "train.num_iterations=2",
                                                       "train.gradient_accumulation_steps=2"]))
    args = grpo_config(cfg, get_objective("grpo").needs(), tmp_path)
    # TRL counts micro-batches: 3 optimiser steps × 2 accumulation steps per rollout batch
    assert (args.steps_per_generation, args.num_iterations, args.gradient_accumulation_steps) == (6, 2, 2)
    assert args.generation_batch_size == 3 * 16 * 8 and args.beta == 1.0
    assert grpo_config(cfg, get_objective("dapo").needs(), tmp_path).beta == 0.0


def test_dry_run_cli_trains_nothing_and_creates_no_run_directory(tmp_path, monkeypatch, capsys):
    from vepo.cli.train import run

    monkeypatch.chdir(tmp_path)
    run(["--dry-run", "train.rl_steps=7"])
    assert "7 steps" in capsys.readouterr().out
    assert not (tmp_path / "outputs").exists()


def test_batch_shape_is_checked_once_before_the_job_with_the_process_count():
    from omegaconf import OmegaConf

    from vepo.training.checks import check_train_config
    from vepo.config.validate import compose_config

    check_train_config(compose_config("train", ["hardware=cpu_ddp", "train.prompts_per_step=2"]))  # 16 = 2 × 8
    with pytest.raises(VepoError, match=r"not divisible by train.gradient_accumulation_steps\*processes=2"):
        check_train_config(compose_config("train", ["hardware=cpu_ddp", "train.prompts_per_step=3",
                                                    "train.num_generations=3"]))
    # The worker-side check is the same function (vepo/training/rl.py): one message, one rule.
    from vepo.training.rl import check_batch_shape as worker_check

    t = OmegaConf.to_object(compose_config("train", ["train.gradient_accumulation_steps=3"])).train
    with pytest.raises(VepoError, match="processes=3"):
        worker_check(t, 1)
