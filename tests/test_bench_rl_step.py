"""bench/rl_step.py at toy size: TRL's and vepo's trainers run one step each, every completion has the requested
length (the bench asserts it per batch), and the result file has the keys docs/benchmarks.md reads."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "bench" / "rl_step.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_rl_step", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_one_step_per_system_writes_the_result_keys(tmp_path):
    bench = load_bench()
    out = tmp_path / "rl_step.json"
    result = bench.main(["--device", "cpu", "--shape", "tiny", "--prompts", "2", "--generations", "2",
                         "--prompt-tokens", "12", "--completion-tokens", "4", "--steps", "1",
                         "--systems", "trl_grpo,vepo_grpo", "--vepo-rollout", "hf", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(result))
    for key in ("device", "trl_grpo_step_s", "vepo_grpo_step_s", "trl_peak_mem_gb", "vepo_grpo_peak_mem_gb",
                "ratio_vepo_grpo_vs_trl", "versions", "date"):
        assert key in saved, key
    assert set(saved["versions"]) >= {"torch", "transformers", "trl", "vepo"}
    section = saved["shapes"]["tiny"]
    assert section["workload"]["completion_tokens_per_step"] == 2 * 2 * 4
    for system in ("trl_grpo", "vepo_grpo"):
        r = section["systems"][system]
        assert len(r["steps_s"]) == 1 and r["step_s"] > 0 and r["generation_s"] > 0
    assert "finite_guard_s" in section["systems"]["vepo_grpo"]  # vepo's guard runs inside the timed step
    assert section["command"].endswith("--out " + str(out))


def test_the_output_head_hook_makes_eos_unsampleable(tiny_policy):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    bench = load_bench()
    path, _ = tiny_policy
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    banned = bench.unsampleable_ids(tok, model.config.vocab_size)
    assert tok.eos_token_id in banned and tok.pad_token_id in banned
    handle = bench.mask_output_head(model, banned)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[5, 6, 7]])).logits
    assert torch.isneginf(logits[..., banned]).all()
    assert torch.isfinite(logits[..., [i for i in range(logits.size(-1)) if i not in banned]]).all()
    handle.remove()
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([[5, 6, 7]])).logits).all()
