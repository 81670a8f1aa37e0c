"""The README's headline: the embedded default run improves over its SFT warm-up (the figures the README records)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_vepo


@pytest.mark.slow
def test_default_run_rl_beats_sft(tmp_path):
    proc = run_vepo("train", f"hydra.run.dir={tmp_path / 'run'}", timeout=3600)  # generous: a busy machine is slow, not wrong
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["chrf_rl"] >= summary["chrf_sft"] + 1.0, summary
    assert summary["reward_last_10pct"] > summary["reward_first_10pct"], summary
    assert "after RL" in proc.stdout and "after SFT" in proc.stdout
