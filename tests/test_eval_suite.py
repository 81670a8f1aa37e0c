"""`vepo eval` over a suite on a synthetic FLORES directory: per-direction results, summaries, metric parity with
sacrebleu's command line, resume after kill -9, hypothesis files, adapters, retention and COMET flags."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FLORES_LINES as N
from tests.conftest import run_vepo
from vepo.config.schema import EvalSettings, ModelConfig, PromptConfig, RetentionConfig, TinyModelConfig
from vepo.data.flores import open_flores
from vepo.evaluation.runner import EvalContext, run_translation_suite
from vepo.errors import VepoError
from vepo.evaluation.suites import Direction
from vepo.models.tiny import build_and_save_tiny

@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, flores_dir) -> Path:
    ds = open_flores(flores_dir)
    texts = [x for code in ("eng_Latn", "bod_Tibt", "kaz_Cyrl") for x in ds.read("dev", code)]
    cfg = TinyModelConfig(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=1)
    return build_and_save_tiny(texts, cfg, tmp_path_factory.mktemp("model") / "tiny", seed=0)


@pytest.fixture(scope="module")
def spm_home(tmp_path_factory, flores_dir) -> Path:
    """A SentencePiece model where sacrebleu looks for FLORES-200's ($SACREBLEU/models/flores200sacrebleuspm)."""
    import sentencepiece as spm

    home = tmp_path_factory.mktemp("sacrebleu")
    (home / "models").mkdir()
    text = "\n".join(x for code in ("eng_Latn", "bod_Tibt", "kaz_Cyrl")
                     for x in open_flores(flores_dir).read("dev", code))
    (home / "train.txt").write_text(text, encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(home / "train.txt"), model_prefix=str(home / "models" / "spm"),
                                   vocab_size=120, model_type="unigram", minloglevel=2)
    (home / "models" / "spm.model").rename(home / "models" / "flores200sacrebleuspm")
    return home


def _eval_args(model, flores_dir, out, *extra):
    return ("eval", f"model={model}", "suite=custom", "suite.langs=[bod_Tibt,kaz_Cyrl]",
            f"data.flores_dir={flores_dir}", "eval.max_new_tokens=8", "eval.batch_size=8", f"hydra.run.dir={out}",
            *extra)


def _sacrebleu_cli(ref: Path, hyp: Path, *metric_args: str, env: dict | None = None) -> float:
    proc = subprocess.run([sys.executable, "-m", "sacrebleu", str(ref), "-i", str(hyp), *metric_args, "-b"],
                          capture_output=True, text=True, check=True, env=dict(os.environ, **(env or {})))
    return float(proc.stdout.strip())


@pytest.fixture(scope="module")
def suite_run(tiny_model, flores_dir, spm_home, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "run"
    proc = run_vepo(*_eval_args(tiny_model, flores_dir, out), env={"SACREBLEU": str(spm_home)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_suite_writes_every_direction_and_summaries(suite_run):
    names = sorted(p.stem for p in (suite_run / "results").glob("*.json"))
    assert names == ["bod_Tibt-eng_Latn", "eng_Latn-bod_Tibt", "eng_Latn-kaz_Cyrl", "kaz_Cyrl-eng_Latn"]
    record = json.loads((suite_run / "results" / "eng_Latn-bod_Tibt.json").read_text())
    assert record["n_segments"] == N and len(record["segments"]["chrf++"]) == N
    assert record["dataset"]["name"] == "flores200" and record["provenance"]["config_hash"]
    rows = (suite_run / "summary.csv").read_text().splitlines()
    groups = {line.split(",")[1] for line in rows[1:] if line.startswith("average")}
    # The groups and names of vepo compare (vepo/data/directions.py).
    assert groups == {"all", "xx→eng", "eng→xx", "Tibetan", "Cyrillic"}
    assert "| eng_Latn-bod_Tibt |" in (suite_run / "summary.md").read_text()
    assert not (suite_run / "cache").exists()  # the segment cache goes once every direction is written


def test_scores_equal_sacrebleu_command_line(suite_run, flores_dir, spm_home):
    for name in ("eng_Latn-bod_Tibt", "kaz_Cyrl-eng_Latn"):
        record = json.loads((suite_run / "results" / f"{name}.json").read_text())
        ref = flores_dir / "devtest" / f"{record['tgt']}.devtest"
        hyp = suite_run / "hyps" / f"{name}.txt"
        chrf = _sacrebleu_cli(ref, hyp, "-m", "chrf", "--chrf-word-order", "2")
        assert record["metrics"]["chrf++"]["score"] == pytest.approx(chrf, abs=0.01)
        spbleu = _sacrebleu_cli(ref, hyp, "-m", "bleu", "-tok", "flores200", env={"SACREBLEU": str(spm_home)})
        assert record["metrics"]["spbleu"]["score"] == pytest.approx(spbleu, abs=0.01)
        assert "tok:flores200" in record["metrics"]["spbleu"]["signature"]


def test_hypothesis_files_are_scored_without_a_model(suite_run, flores_dir, tmp_path):
    out = tmp_path / "hyps_eval"
    proc = run_vepo("eval", f"hyps={suite_run / 'hyps'}", "suite=custom", "suite.langs=[bod_Tibt,kaz_Cyrl]",
                    f"data.flores_dir={flores_dir}", "eval.spbleu=false", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("eng_Latn-bod_Tibt", "bod_Tibt-eng_Latn"):
        a = json.loads((suite_run / "results" / f"{name}.json").read_text())
        b = json.loads((out / "results" / f"{name}.json").read_text())
        assert a["metrics"]["chrf++"] == b["metrics"]["chrf++"] and b["engine"] == "files"
    bad = tmp_path / "bad_hyps"
    bad.mkdir()
    (bad / "eng_Latn-bod_Tibt.txt").write_text("only one line\n")
    ctx = EvalContext(open_flores(flores_dir), EvalSettings(spbleu=False), tmp_path / "x", "hyps", {})
    with pytest.raises(VepoError, match="has 1 lines but .* has 24 segments"):
        run_translation_suite([Direction("eng_Latn", "bod_Tibt")], ctx, "t", model_path=None,
                              model_cfg=ModelConfig(), prompt_cfg=PromptConfig(), device="cpu", hyps_dir=str(bad))


@pytest.mark.parametrize("direction,message", [("eng_Latn-bod_Tibet", "closest: bod_Tibt"),
                                               ("eng_Latn-uig_Arab", "uig_Arab.devtest")])
def test_bad_codes_and_missing_files_fail_before_any_job(tiny_model, flores_dir, direction, message):
    # What `vepo eval` checks before Hydra creates a run directory (the one-line CLI contract: test_cli.py).
    from vepo.evaluation.checks import check_eval_config
    from vepo.config.validate import validate_overrides

    args = [f"model.path={tiny_model}", "suite=custom", f"suite.directions=[{direction}]",
            f"data.flores_dir={flores_dir}"]
    with pytest.raises(VepoError, match=message) as info:
        validate_overrides("eval", args, check_eval_config)
    assert "\n" not in str(info.value)


def test_killed_run_resumes_without_recomputing_finished_directions(tiny_model, flores_dir, tmp_path):
    out = tmp_path / "resumable"
    # One direction per wave, small batches: the run writes directions one by one, slowly enough to be killed.
    args = [*_eval_args(tiny_model, flores_dir, out, "eval.wave_segments=1", "eval.batch_size=2",
                        "eval.max_new_tokens=24", "eval.spbleu=false")]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "vepo", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    results = out / "results"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(list(results.glob("*.json"))) < 1:
        time.sleep(0.02)
    time.sleep(0.3)  # into the next direction: some of its segments are in the cache
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.read_bytes() for p in results.glob("*.json")}
    assert 1 <= len(finished) < 4, "the run should have been killed between directions"
    cached = (out / "cache" / "segments.jsonl").read_text().splitlines()

    proc = run_vepo(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{len(finished)} of 4 directions already finished" in proc.stdout
    for name, content in finished.items():  # untouched, not recomputed
        assert (results / name).read_bytes() == content
    assert len(list(results.glob("*.json"))) == 4
    summary = json.loads((out / "summary.json").read_text())
    generated = summary["throughput"]["segments_generated"]
    assert generated == 4 * N - len(finished) * N - (len(cached) - len(finished) * N)


def test_lora_adapter_checkpoint_evaluates_like_its_merged_model(tiny_model, flores_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "merged")
    settings = EvalSettings(max_new_tokens=8, spbleu=False)
    hyps = {}
    for name in ("adapter", "merged"):
        ctx = EvalContext(open_flores(flores_dir), settings, tmp_path / f"out_{name}", name, {})
        run_translation_suite([Direction("eng_Latn", "bod_Tibt")], ctx, name, model_path=str(tmp_path / name),
                              model_cfg=ModelConfig(), prompt_cfg=PromptConfig(), device="cpu")
        hyps[name] = json.loads((tmp_path / f"out_{name}" / "results" / "eng_Latn-bod_Tibt.json").read_text())
    assert hyps["adapter"]["hypotheses"] == hyps["merged"]["hypotheses"]


def test_retention_kl_is_zero_against_itself_and_positive_against_another_model(tiny_model, flores_dir, tmp_path):
    from vepo.evaluation.retention import run_retention
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text = tmp_path / "general.txt"
    text.write_text("\n".join(open_flores(flores_dir).read("devtest", "eng_Latn")), encoding="utf-8")
    cfg = RetentionConfig(text_file=str(text), reference=str(tiny_model), max_length=64)
    same = run_retention(str(tiny_model), ModelConfig(), cfg, "cpu")
    assert same["kl_model_reference"] == pytest.approx(0.0, abs=1e-6) and same["nll"] == same["reference_nll"]
    other = AutoModelForCausalLM.from_pretrained(tiny_model)
    for p in other.parameters():
        p.data.add_(0.05 * __import__("torch").randn_like(p))
    other.save_pretrained(tmp_path / "other")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "other")
    moved = run_retention(str(tmp_path / "other"), ModelConfig(), cfg, "cpu")
    assert moved["kl_model_reference"] > 1e-4 and moved["tokens"] == same["tokens"] > 100


def test_comet_scores_and_flags_targets_outside_xlmr(tmp_path):
    from vepo.evaluation.metrics import Scorer
    from vepo.models.comet.tiny import build_tiny_comet_checkpoint

    ckpt = build_tiny_comet_checkpoint(tmp_path / "comet")
    scorer = Scorer(spbleu=False, comet=True, comet_model=str(ckpt))
    tib = scorer.score("bod_Tibt", ["a dog", "a cat"], ["ཁི་ཞིག", "ཇི་ལ"], ["ཁི་ཞིག", "ཇི་ལ་ཞིག"])
    kaz = scorer.score("kaz_Cyrl", ["a dog", "a cat"], ["ит", "мысық"], ["ит", "мысық"])
    assert tib.metrics["comet"]["flagged"] and not kaz.metrics["comet"]["flagged"]
    assert len(tib.segments["comet"]) == 2
    assert tib.metrics["comet"]["score"] == pytest.approx(100 * sum(tib.segments["comet"]) / 2, abs=1e-3)
    assert any("XLM-R" in n for n in tib.notes)
