"""`vepo eval model=<checkpoint> suite=toy` reproduces the training run's own final evaluation."""

from __future__ import annotations

import json

from tests.conftest import run_vepo


def test_eval_checkpoint_matches_training_result(smoke_run, tmp_path):
    out = tmp_path / "e"
    proc = run_vepo("eval", f"model={smoke_run / 'checkpoint'}", "suite=toy", "data.n_train=64", "data.n_dev=8",
                    "data.n_devtest=8", "eval.max_new_tokens=16", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "results" / "eng_Latn-toy_Tibt.json").read_text())
    assert result["model"].endswith("checkpoint")
    assert result["dataset"]["name"] == "toy"
    assert result["metrics"]["chrf++"]["signature"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:2")
    # Greedy decoding of the same checkpoint on the same segments reproduces the training run's final score.
    trained = json.loads((smoke_run / "results" / "rl.json").read_text())
    assert result["hypotheses"] == trained["hypotheses"]
    assert result["metrics"]["chrf++"]["score"] == trained["metrics"]["chrf++"]["score"]
    assert (out / "hyps" / "eng_Latn-toy_Tibt.txt").read_text().splitlines() == result["hypotheses"]
    assert "chrf++" in proc.stdout
