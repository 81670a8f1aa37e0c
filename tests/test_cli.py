"""The command line: help, version, config errors (one line, exit 2), eval without a usable model."""

from __future__ import annotations

import pytest

from vepo import __version__
from tests.conftest import run_vepo


def test_help_lists_subcommands():
    proc = run_vepo("--help")
    assert proc.returncode == 0
    for cmd in ("train", "eval", "tokenize-stats", "compare"):
        assert cmd in proc.stdout


def test_version():
    proc = run_vepo("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"vepo {__version__}"


def test_subcommand_help_reaches_hydra():
    proc = run_vepo("train", "--help")
    assert proc.returncode == 0
    assert "algo: dapo" in proc.stdout and "grpo" in proc.stdout  # Hydra's help lists the config groups


def test_cfg_job_prints_config_without_training(tmp_path):
    proc = run_vepo("train", "--cfg", "job", "seed=7", f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 0, proc.stderr
    assert "seed: 7" in proc.stdout
    assert not (tmp_path / "r").exists()


def test_info_flag():
    proc = run_vepo("train", "--info", "defaults")
    assert proc.returncode == 0, proc.stderr
    assert "algo/grpo" in proc.stdout


@pytest.mark.parametrize(
    "override, expected",
    [
        ("foo=1", ["unknown key 'foo'", "seed", "train"]),
        ("train.sft_stepz=3", ["unknown key 'train.sft_stepz'", "sft_steps"]),
        ("seed=abc", ["seed", "abc", "int"]),
        ("train.rl_lr=fast", ["train.rl_lr", "fast", "float"]),
        ("algo=nope", ["unknown option 'nope'", "algo", "grpo"]),
        ("reward=nope", ["unknown option 'nope'", "reward", "chrf"]),
    ],
)
def test_config_errors_are_one_line_exit_2(tmp_path, override, expected):
    proc = run_vepo("train", override, f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for fragment in expected:
        assert fragment in lines[0]
    assert not (tmp_path / "r").exists()  # failed before any work


def test_bad_sweep_value_fails_before_any_job(tmp_path):
    proc = run_vepo("train", "-m", "seed=1,oops", f"hydra.sweep.dir={tmp_path / 's'}")
    assert proc.returncode == 2
    assert "oops" in proc.stderr
    assert not (tmp_path / "s").exists()


def test_bad_objective_param_is_one_line(tmp_path):
    proc = run_vepo("train", "+algo.params.epsilon_typo=0.1", f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    assert "epsilon_typo" in proc.stderr and "allowed" in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1
    assert not (tmp_path / "r").exists()


def test_bad_batch_shape_is_one_line(tmp_path):
    proc = run_vepo("train", "train.gradient_accumulation_steps=3", f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    assert "gradient_accumulation_steps" in proc.stderr


def test_eval_without_model_path(tmp_path):
    proc = run_vepo("eval", f"hydra.run.dir={tmp_path / 'e'}")
    assert proc.returncode == 2
    assert "model.path" in proc.stderr


def test_eval_missing_checkpoint(tmp_path):
    proc = run_vepo("eval", f"model.path={tmp_path / 'nope'}", f"hydra.run.dir={tmp_path / 'e'}")
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
