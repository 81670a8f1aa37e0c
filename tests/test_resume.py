"""Checkpoints and resume: a training process killed with SIGKILL mid-RL resumes to the end with a complete, duplicate-
free metrics file, and finished stages are not recomputed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import SMOKE_OVERRIDES, run_vepo

RL_STEPS, SAVE_STEPS = 12, 3


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_sigkilled_run_resumes_to_a_complete_consistent_end(tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", *SMOKE_OVERRIDES, f"train.rl_steps={RL_STEPS}", f"train.save_steps={SAVE_STEPS}",
            "train.save_total_limit=2", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen([sys.executable, "-m", "vepo", *args], env=dict(os.environ, HF_HUB_OFFLINE="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 300
    # Kill after the first RL checkpoint exists and a few more steps have been logged past it.
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= SAVE_STEPS + 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    logged = _steps(metrics)
    assert SAVE_STEPS < len(logged) < RL_STEPS, f"kill landed outside the RL stage: {logged}"
    assert not (run_dir / "checkpoint").exists() and not (run_dir / "summary.json").exists()
    sft_metrics = (run_dir / "sft_metrics.jsonl").read_bytes()
    sft_result = (run_dir / "results" / "sft.json").read_bytes()

    done = run_vepo("train", f"resume={run_dir}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert _steps(metrics) == list(range(1, RL_STEPS + 1))  # every step once, in order
    checkpoints = sorted(p.name for p in (run_dir / "trainer" / "rl").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-12", "checkpoint-9"]  # keep the last two
    state = json.loads((run_dir / "trainer" / "rl" / "checkpoint-12" / "trainer_state.json").read_text())
    assert state["global_step"] == RL_STEPS
    assert (run_dir / "checkpoint" / "stage_complete.json").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rl_steps_logged"] == RL_STEPS and summary["chrf_rl"] is not None
    # The finished SFT stage was kept, not retrained or re-evaluated.
    assert (run_dir / "sft_metrics.jsonl").read_bytes() == sft_metrics
    assert (run_dir / "results" / "sft.json").read_bytes() == sft_result


def test_resume_of_a_directory_that_is_not_a_run_fails_in_one_line(tmp_path):
    proc = run_vepo("train", f"resume={tmp_path}")
    assert proc.returncode == 2
    assert "not a vepo train run directory" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_checkpoints_keep_the_added_token_record(tmp_path):
    from transformers import AutoTokenizer

    from vepo.tokenization.added_tokens import ADDED_TOKENS_FILE, write_added_tokens
    from vepo.training.checkpointing import carry_added_tokens

    source = tmp_path / "extended"
    AutoTokenizer.from_pretrained(_tiny_tokenizer_dir(tmp_path)).save_pretrained(source)
    write_added_tokens(source, {"new_ids": [5, 6]})
    tokenizer = AutoTokenizer.from_pretrained(source)
    (tmp_path / "ckpt").mkdir()
    carry_added_tokens(tokenizer, tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / ADDED_TOKENS_FILE).read_text())["new_ids"] == [5, 6]


def _tiny_tokenizer_dir(tmp_path):
    from vepo.models.tiny import train_tokenizer

    path = tmp_path / "tok"
    train_tokenizer(["a b c", "d e f"] * 10, 300).save_pretrained(path)
    return path
