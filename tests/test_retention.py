"""`vepo eval suite=retention` (the alignment tax) on the toy language with tiny models: the untrained direction and
finite numbers for a checkpoint against its base, zeros for a model against itself, KL over the shared vocabulary
after extend-vocab, multiple-choice scoring against an explicit log-likelihood, one-line config errors, and the
alignment-tax table of `vepo compare`."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from pathlib import Path

import pytest
import torch
import yaml

from tests.compare_fixtures import diag_step, noisy, references, result_record, write_train_run
from tests.conftest import run_vepo
from vepo.config.schema import (DataConfig, EvalConfig, EvalSettings, ModelConfig, RetentionConfig, SuiteConfig,
                                TinyModelConfig)
from vepo.errors import VepoError
from vepo.evaluation.retention_suite import run_retention_eval

TOY = {"n_train": 120, "n_dev": 8, "n_devtest": 8}
TINY = TinyModelConfig(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """A toy tiny base and a checkpoint trained from it for a few steps on eng→toy pairs (in-process: cheap)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from vepo.data.toy import build_toy_corpus
    from vepo.models.tiny import build_and_save_tiny

    root = tmp_path_factory.mktemp("retention")
    corpus = build_toy_corpus(seed=0, **TOY)
    base = build_and_save_tiny([s for s, _ in corpus.train] + [t for _, t in corpus.train], TINY, root / "base", 0)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    texts = [f"English: {s}\nToy: {t}" for s, t in corpus.train[:32]]
    for step in range(4):
        batch = tokenizer(texts[step * 8:(step + 1) * 8], return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        model(**batch, labels=labels).loss.backward()
        optim.step()
        optim.zero_grad()
    model.save_pretrained(root / "ckpt")
    tokenizer.save_pretrained(root / "ckpt")
    return {"root": root, "base": base, "ckpt": root / "ckpt", "corpus": corpus}


def _cfg(model: Path, reference: Path, **retention) -> EvalConfig:
    return EvalConfig(suite=SuiteConfig(name="retention", kind="retention", pivot=None),
                      model=ModelConfig(path=str(model)), data=DataConfig(name="toy", **TOY),
                      eval=EvalSettings(max_new_tokens=8, spbleu=False),
                      retention=RetentionConfig(reference=str(reference), **retention))


def _quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _finite(*values) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) for v in values)


def test_checkpoint_against_base_on_toy_cli_and_rerun(models, tmp_path):
    out = tmp_path / "ret"
    args = ("eval", "suite=retention", "data=toy", *(f"data.{k}={v}" for k, v in TOY.items()),
            f"model={models['ckpt']}", f"retention.reference={models['base']}", "eval.max_new_tokens=8",
            "eval.spbleu=false", f"hydra.run.dir={out}")
    proc = run_vepo(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "results" / "retention.json").read_text())
    assert result["complete"] and result["trained_direction"] == "eng_Latn-toy_Tibt"
    rows = {r["direction"]: r for r in result["translation"]["directions"]}
    assert set(rows) == {"eng_Latn-toy_Tibt", "toy_Tibt-eng_Latn"} and not rows["toy_Tibt-eng_Latn"]["trained"]
    for row in rows.values():
        assert row["n_segments"] == TOY["n_devtest"] and _finite(row["model"], row["reference"])
        assert row["delta"] == pytest.approx(row["model"] - row["reference"], abs=1e-3)
    assert result["translation"]["untrained_mean"]["delta"] == rows["toy_Tibt-eng_Latn"]["delta"]
    model_hyps = json.loads((out / "translations" / "model" / "results" / "toy_Tibt-eng_Latn.json").read_text())
    assert model_hyps["model"] == str(models["ckpt"]) and len(model_hyps["hypotheses"]) == TOY["n_devtest"]
    lm = result["lm"]
    assert lm["text"].startswith("toy dev split") and lm["vocabulary"] == "identical" and lm["tokens"] > 100
    assert _finite(lm["nll"], lm["reference_nll"], lm["kl_model_reference"]) and lm["kl_model_reference"] > 1e-3
    assert lm["delta_nll"] == pytest.approx(lm["nll"] - lm["reference_nll"])
    assert "retention ·" in proc.stdout and "KL(model‖ref)" in proc.stdout

    again = run_vepo(*args)  # idempotent: finished directions and the NLL/KL part are reused, not recomputed
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 of 2 directions already finished" in again.stdout and "NLL/KL already measured" in again.stdout
    assert json.loads((out / "results" / "retention.json").read_text())["lm"] == lm


def test_model_identical_to_its_base_has_zero_kl_and_deltas(models, tmp_path):
    result = _quiet(run_retention_eval, _cfg(models["base"], models["base"]), tmp_path, {})
    assert result["lm"]["kl_model_reference"] == pytest.approx(0.0, abs=1e-7)
    assert result["lm"]["delta_nll"] == 0.0 and result["lm"]["nll"] > 0
    assert [r["delta"] for r in result["translation"]["directions"]] == [0.0, 0.0]


def _loglik(model, tokenizer, prompt: str, choice: str) -> float:
    """Explicit: sum of log p(choice token | everything before it), one token at a time."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    ids = prompt_ids + tokenizer(" " + choice, add_special_tokens=False)["input_ids"]
    total = 0.0
    with torch.no_grad():
        for i in range(len(prompt_ids), len(ids)):
            logits = model(torch.tensor([ids[:i]])).logits[0, -1]
            total += torch.log_softmax(logits.double(), -1)[ids[i]].item()
    return total


def test_multiple_choice_picks_the_higher_likelihood_choice(models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    items = [{"question": "English: the dog sees a cat .\nToy:", "choices": ["ཁི", "the the the", "ཇི་ལ"]},
             {"context": "English: a monk reads two books .", "question": "Toy:", "choices": ["stone", "ཞིག"]},
             {"question": "the big dog", "choices": ["eats", "zzzz qqq"]}]
    tokenizer = AutoTokenizer.from_pretrained(models["ckpt"])
    scores = {}
    for role in ("ckpt", "base"):
        net = AutoModelForCausalLM.from_pretrained(models[role]).eval()
        scores[role] = [[_loglik(net, tokenizer, (it.get("context") + "\n" if it.get("context") else "")
                                 + it["question"], c) for c in it["choices"]] for it in items]
    best = [max(range(len(s)), key=s.__getitem__) for s in scores["ckpt"]]
    worst = [min(range(len(s)), key=s.__getitem__) for s in scores["ckpt"]]
    answers = [best[0], worst[1], best[2]]  # the model gets exactly two of three right
    mc_file = tmp_path / "mc.jsonl"
    mc_file.write_text("".join(json.dumps(dict(it, answer=a)) + "\n" for it, a in zip(items, answers)) + "\n")
    cfg = _cfg(models["ckpt"], models["base"], mc_file=str(mc_file), directions=[], trained_direction="none")
    mc = _quiet(run_retention_eval, cfg, tmp_path / "out", {})["mc"]
    assert mc["predictions"] == best and mc["accuracy"] == pytest.approx(2 / 3)
    ref_best = [max(range(len(s)), key=s.__getitem__) for s in scores["base"]]
    assert mc["reference_predictions"] == ref_best
    assert mc["reference_accuracy"] == pytest.approx(sum(p == a for p, a in zip(ref_best, answers)) / 3)
    assert mc["delta_accuracy"] == pytest.approx(mc["accuracy"] - mc["reference_accuracy"])
    for got, want in zip(mc["loglik"] + mc["reference_loglik"], scores["ckpt"] + scores["base"]):
        assert got == pytest.approx(want, abs=1e-4)


def test_extended_vocabulary_is_compared_on_the_shared_ids(models, tmp_path):
    from transformers import AutoTokenizer

    from vepo.config.schema import LangConfig
    from vepo.models.tiny import build_and_save_tiny
    from vepo.config.tokenization import ExtendVocabConfig
    from vepo.tokenization.extend_vocab_command import run_extend_vocab

    (tmp_path / "tib.txt").write_text("\n".join(t for _, t in models["corpus"].train) + "\n", encoding="utf-8")
    cfg = ExtendVocabConfig(model=ModelConfig(path=str(models["base"])), lang=LangConfig(tgt="toy_Tibt"),
                            corpus=str(tmp_path / "tib.txt"), added_tokens=20)
    _quiet(run_extend_vocab, cfg, tmp_path / "ext")
    ext = tmp_path / "ext" / "checkpoint"
    assert len(AutoTokenizer.from_pretrained(ext)) == len(AutoTokenizer.from_pretrained(models["base"])) + 20
    result = _quiet(run_retention_eval, _cfg(ext, models["base"]), tmp_path / "out", {})
    lm = result["lm"]
    # extend-vocab leaves the old logits untouched: over the shared ids, renormalised, the two models agree
    assert lm["vocabulary"].startswith("shared") and lm["new_token_mass"] > 1e-4
    assert lm["kl_model_reference"] == pytest.approx(0.0, abs=1e-5)
    assert lm["nll"] == pytest.approx(lm["reference_nll"], abs=1e-4)
    assert {r["direction"] for r in result["translation"]["directions"]} == {"eng_Latn-toy_Tibt",
                                                                             "toy_Tibt-eng_Latn"}

    other = build_and_save_tiny([s for s, _ in models["corpus"].train], TINY, tmp_path / "other", 0)
    with pytest.raises(VepoError, match="incompatible tokenizers") as info:
        _quiet(run_retention_eval, _cfg(other, models["base"], directions=[]), tmp_path / "bad", {})
    assert "\n" not in str(info.value)


def test_retention_schema_mirrors_the_eval_yaml():
    from dataclasses import fields

    from vepo.config.paths import config_dir

    block = yaml.safe_load((config_dir() / "eval.yaml").read_text())["retention"]
    assert list(block) == [f.name for f in fields(RetentionConfig)]
    assert block == {f.name: f.default for f in fields(RetentionConfig)}
    suite = yaml.safe_load((config_dir() / "suite" / "retention.yaml").read_text())
    assert suite["kind"] == "retention" and set(suite) <= {f.name for f in fields(SuiteConfig)}


@pytest.mark.parametrize("extra,message", [
    ([], "needs retention.reference"),
    (["retention.reference={base}", "retention.max_length=1"], "retention.max_length=1 must be >= 2"),
    (["retention.reference={base}", "retention.max_chunks=0"], "retention.max_chunks=0"),
    (["retention.reference={base}", "retention.directions=[eng_Latn-fra_Latn]"], "'fra_Latn' is not in the toy"),
    (["retention.reference={base}", "retention.directions=[eng_Latn-toy_Tibt]"], "the trained direction"),
    (["retention.reference={base}", "retention.trained_direction=eng-toy_Tibt"], "retention.trained_direction"),
    (["retention.reference={base}", "retention.text_file=/nonexistent/x.txt"], "does not exist"),
    (["retention.reference={base}", "retention.mc_file={mc}"], "mc.jsonl:2: 'answer' must be the index"),
    (["retention.reference={base}", "data=flores"], "needs retention.text_file"),
])
def test_bad_retention_settings_are_one_line_errors(models, tmp_path, extra, message):
    from vepo.evaluation.checks import check_eval_config
    from vepo.config.validate import validate_overrides

    (tmp_path / "mc.jsonl").write_text('{"question": "q", "choices": ["a", "b"], "answer": 1}\n'
                                       '{"question": "q", "choices": ["a", "b"], "answer": 2}\n')
    args = ["suite=retention", "data=toy", f"model.path={models['ckpt']}",
            *(e.format(base=models["base"], mc=tmp_path / "mc.jsonl") for e in extra)]
    with pytest.raises(VepoError, match=message) as info:
        validate_overrides("eval", args, check_eval_config)
    assert "\n" not in str(info.value)


def test_cli_bad_retention_value_exits_2_before_work(models, tmp_path):
    proc = run_vepo("eval", "suite=retention", "data=toy", f"model={models['ckpt']}",
                    f"retention.reference={models['base']}", "retention.max_length=1",
                    f"hydra.run.dir={tmp_path / 'never'}")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "retention.max_length" in proc.stderr and not (tmp_path / "never").exists()


# --- vepo compare: the alignment-tax table -------------------------------------------------------------------------

def _retention_json(trained_delta: float | None, untrained: dict[str, float], delta_nll: float, kl: float,
                    mc: tuple[float, float] | None) -> dict:
    rows = [{"direction": d, "trained": False, "n_segments": 8, "model": 40 + v, "reference": 40.0, "delta": v}
            for d, v in untrained.items()]
    if trained_delta is not None:
        rows.insert(0, {"direction": "eng_Latn-bod_Tibt", "trained": True, "n_segments": 8,
                        "model": 30 + trained_delta, "reference": 30.0, "delta": trained_delta})
    mean = sum(untrained.values()) / len(untrained)
    return {"kind": "retention", "model": "ckpt", "reference": "base", "trained_direction": "eng_Latn-bod_Tibt",
            "complete": True,
            "translation": {"directions": rows, "trained": rows[0] if trained_delta is not None else None,
                            "untrained_mean": {"n_directions": len(untrained), "model": 40 + mean, "reference": 40.0,
                                               "delta": mean}},
            "lm": {"nll": 2.0 + delta_nll, "reference_nll": 2.0, "delta_nll": delta_nll, "kl_model_reference": kl},
            "mc": None if mc is None else {"accuracy": mc[0], "reference_accuracy": mc[1],
                                           "delta_accuracy": mc[0] - mc[1], "items": 10}}


@pytest.fixture(scope="module")
def taxed(tmp_path_factory):
    """Three training runs: `espo` with a retention result that measured the trained direction, `vepo` with one that
    did not (its gain comes from results/rl.json − results/sft.json), `grpo` with none."""
    from rich.console import Console

    from vepo.reporting.compare_command import run_compare
    from vepo.config.compare import CompareConfig, CompareSettings

    root = tmp_path_factory.mktemp("tax")
    refs = references(20, 5)
    runs = {}
    for i, algo in enumerate(("espo", "vepo", "grpo")):
        record = result_record("eng_Latn", "bod_Tibt", noisy(refs, 0.2 + 0.05 * i, i), refs)
        runs[algo] = write_train_run(root / algo, record, [f"algo={algo}"],
                                     [diag_step(2, kl_old=0.01, clip_frac=0.1, ratio_mean=1.0)])
    sft = result_record("eng_Latn", "bod_Tibt", noisy(refs, 0.5, 9), refs)
    (runs["vepo"] / "results" / "sft.json").write_text(json.dumps(sft))
    vepo_gain = (json.loads((runs["vepo"] / "results" / "rl.json").read_text())["metrics"]["chrf++"]["score"]
                 - sft["metrics"]["chrf++"]["score"])
    for algo, data in (("espo", _retention_json(5.5, {"bod_Tibt-eng_Latn": -1.0, "eng_Latn-fra_Latn": -3.0},
                                                0.125, 0.0625, (0.5, 0.75))),
                       ("vepo", _retention_json(None, {"bod_Tibt-eng_Latn": 2.0}, -0.01, 0.02, None))):
        path = runs[algo] / "retention" / "results" / "retention.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(data))
    cfg = CompareConfig(runs=[str(p) for p in runs.values()],
                        compare=CompareSettings(formats=["rich", "markdown", "csv", "json"], significance=False,
                                                plots=False))
    terminal = io.StringIO()
    comparison = run_compare(cfg, root / "out", Console(file=terminal, width=220))
    return comparison, root / "out", terminal.getvalue(), vepo_gain


def test_alignment_tax_rows_and_gain_sources(taxed):
    comparison, _, _, vepo_gain = taxed
    rows = {row.system: row for row in comparison.alignment_tax.rows}
    assert list(rows) == ["algo=espo", "algo=vepo"]  # grpo has no retention result: not in the table
    espo, vepo = rows["algo=espo"], rows["algo=vepo"]
    assert espo.values == {"gain_trained": 5.5, "delta_chrf_untrained": -2.0, "delta_nll": 0.125, "kl": 0.0625,
                           "mc_accuracy": 0.5, "delta_mc_accuracy": -0.25}
    assert espo.gain_source.startswith("retention") and espo.trained_direction == "eng_Latn-bod_Tibt"
    assert vepo.gain_source == "train run: RL − SFT" and vepo.values["gain_trained"] == pytest.approx(vepo_gain)
    assert vepo.values["mc_accuracy"] is None and vepo.untrained_directions == {"bod_Tibt-eng_Latn": 2.0}


def test_alignment_tax_in_every_format(taxed):
    import pandas as pd

    _, out, terminal, vepo_gain = taxed
    frame = pd.read_csv(out / "alignment_tax.csv").set_index("system")
    assert list(frame.index) == ["algo=espo", "algo=vepo"]
    assert frame.loc["algo=espo", "delta_nll"] == 0.125 and frame.loc["algo=espo", "n_untrained"] == 2
    assert frame.loc["algo=espo", "untrained_directions"] == "bod_Tibt-eng_Latn=-1.0000; eng_Latn-fra_Latn=-3.0000"
    assert pd.isna(frame.loc["algo=vepo", "mc_accuracy"])
    block = json.loads((out / "compare.json").read_text())["alignment_tax"]
    assert [r["system"] for r in block["rows"]] == ["algo=espo", "algo=vepo"]
    assert block["rows"][1]["gain_trained"] == pytest.approx(vepo_gain)
    markdown = (out / "compare.md").read_text()
    assert "## Alignment tax" in markdown
    assert "| algo=espo | eng\\_Latn-bod\\_Tibt | +5.50 | -2.00 | +0.1250 | 0.0625 | 0.500 | -0.250 |" in markdown
    assert "Alignment tax" in terminal and "+5.50" in terminal and "0.0625" in terminal


def test_retention_eval_dir_is_a_system_with_its_table_row(models, tmp_path):
    """A `vepo eval suite=retention` output directory is a compare system: the model's translations and its row."""
    from rich.console import Console

    from vepo.reporting.compare_command import run_compare
    from vepo.config.compare import CompareConfig, CompareSettings

    for name, model in (("same", models["base"]), ("trained", models["ckpt"])):
        _quiet(run_retention_eval, _cfg(model, models["base"], max_chunks=1), tmp_path / name, {})
    cfg = CompareConfig(runs=[str(tmp_path / "same"), str(tmp_path / "trained")],
                        compare=CompareSettings(formats=["json"], significance=False, plots=False))
    comparison = run_compare(cfg, tmp_path / "out", Console(file=open(os.devnull, "w")))
    assert comparison.directions == ["eng_Latn-toy_Tibt", "toy_Tibt-eng_Latn"]
    rows = {r.system: r for r in comparison.alignment_tax.rows}
    assert len(rows) == 2
    kls = sorted(r.values["kl"] for r in rows.values())
    assert kls[0] == pytest.approx(0.0, abs=1e-7) and kls[1] > 1e-3
