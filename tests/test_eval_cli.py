"""`vepo eval model.path=<checkpoint>` scores the checkpoint and writes a JSON result."""

from __future__ import annotations

import json

from tests.conftest import run_vepo


def test_eval_checkpoint_matches_training_result(smoke_run, tmp_path):
    out = tmp_path / "result.json"
    proc = run_vepo("eval", f"model.path={smoke_run / 'checkpoint'}", "data.n_train=64", "data.n_dev=8",
                    "data.n_devtest=8", "eval.max_new_tokens=16", f"output={out}",
                    f"hydra.run.dir={tmp_path / 'e'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["model"].endswith("checkpoint")
    assert result["metrics"]["chrf++"]["signature"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:2")
    # Greedy decoding of the same checkpoint on the same segments reproduces the training run's final score.
    trained = json.loads((smoke_run / "results" / "rl.json").read_text())
    assert result["hypotheses"] == trained["hypotheses"]
    assert result["metrics"]["chrf++"]["score"] == trained["metrics"]["chrf++"]["score"]
    assert "chrF++" in proc.stdout
