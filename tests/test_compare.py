"""`vepo compare`: p-values equal sacrebleu's PairedTest, averages leave missing directions out, LaTeX structure,
labels from overrides, one-line errors for inputs that cannot be compared, curves from real runs, the training
diagnostics table (means over off-policy steps) and its bucket panels."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

from tests.compare_fixtures import (diag_step, noisy, on_policy_step, references, result_record, write_eval_dir,
                                    write_train_run)
from tests.conftest import run_vepo
from vepo.errors import VepoError
from vepo.reporting.compare_command import run_compare
from vepo.config.compare import CompareConfig, CompareSettings
from vepo.reporting.significance import paired_bootstrap_segments

DIRECTIONS = {"eng_Latn-bod_Tibt": 1, "bod_Tibt-eng_Latn": 2, "eng_Latn-uig_Arab": 3, "uig_Arab-eng_Latn": 4}
ERROR_RATES = {"base": 0.4, "better": 0.25, "worse": 0.45}


def _system(root: Path, name: str, seed: int, skip: tuple[str, ...] = (), **record_kw) -> Path:
    records = []
    for direction, ref_seed in DIRECTIONS.items():
        if direction in skip:
            continue
        src, tgt = direction.split("-")
        refs = references(60, ref_seed)
        comet = [0.5 + 0.4 * (1 - ERROR_RATES[name]) * ((i * 7 + seed) % 10) / 10 for i in range(len(refs))]
        records.append(result_record(src, tgt, noisy(refs, ERROR_RATES[name], seed * 100 + ref_seed), refs,
                                     comet=comet, comet_flagged=tgt == "bod_Tibt", **record_kw))
    return write_eval_dir(root / name, records, overrides=[f"model.path=/ckpt/{name}", f"seed={seed}"])


@pytest.fixture(scope="module")
def three_systems(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("systems")
    return {"base": _system(root, "base", 1), "better": _system(root, "better", 2),
            "worse": _system(root, "worse", 3, skip=("eng_Latn-uig_Arab",))}


@pytest.fixture(scope="module")
def compared(three_systems, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    cfg = CompareConfig(runs=[str(three_systems["better"]), str(three_systems["worse"])],
                        baseline=str(three_systems["base"]))
    comparison = run_compare(cfg, out, Console(file=open(os.devnull, "w")))
    return comparison, out


def _hyps(path: Path, direction: str) -> tuple[list[str], list[str]]:
    data = json.loads((path / "results" / f"{direction}.json").read_text())
    return data["hypotheses"], data["references"]


def test_pvalues_equal_sacrebleu_paired_test(three_systems, compared):
    comparison, _ = compared
    tables = {t.metric: t for t in comparison.tables}
    labels = dict(zip(["base", "better", "worse"], comparison.labels))
    direction = "bod_Tibt-eng_Latn"
    base, refs = _hyps(three_systems["base"], direction)
    systems = [("base", base)] + [(n, _hyps(three_systems[n], direction)[0]) for n in ("better", "worse")]
    for metric, scorer in (("chrf++", CHRF(word_order=2)), ("spbleu", BLEU(tokenize="13a"))):
        os.environ["SACREBLEU_SEED"] = "12345"
        try:
            _, scores = PairedTest(systems, {"m": scorer}, [refs], test_type="bs", n_samples=1000)()
        finally:
            del os.environ["SACREBLEU_SEED"]
        (results,) = [v for k, v in scores.items() if k != "System"]  # keyed by the score's own name
        expected = {name: res.p_value for name, res in zip(scores["System"], results)}
        for name in ("better", "worse"):
            assert tables[metric].cells[labels[name]][direction].p_value == expected[name]
    # the better system is significantly better on its clearly better directions
    assert tables["chrf++"].cells[labels["better"]][direction].p_value < 0.05


def test_comet_segment_bootstrap():
    base = [0.1 * (i % 7) for i in range(100)]
    assert paired_bootstrap_segments(base, [x + 0.2 for x in base], 1000, 12345) == 1 / 1001
    noisy_copy = [x + (0.001 if i % 2 else -0.001) for i, x in enumerate(base)]
    assert paired_bootstrap_segments(base, noisy_copy, 1000, 12345) > 0.05
    assert paired_bootstrap_segments(base, list(base), 1000, 12345) == 1.0  # identical: never "significant"
    assert paired_bootstrap_segments(base, noisy_copy, 1000, 7) == paired_bootstrap_segments(base, noisy_copy, 1000, 7)


def test_averages_leave_missing_directions_out(three_systems, compared):
    comparison, out = compared
    chrf = next(t for t in comparison.tables if t.metric == "chrf++")
    worse = comparison.labels[2]
    assert chrf.cells[worse]["eng_Latn-uig_Arab"].score is None
    common = ["eng_Latn-bod_Tibt", "bod_Tibt-eng_Latn", "uig_Arab-eng_Latn"]
    assert sorted(chrf.common["all"]) == sorted(common)
    for label in comparison.labels:
        expected = sum(chrf.cells[label][d].score for d in common) / 3
        assert chrf.averages[label]["all"].score == pytest.approx(expected)
    assert any("eng_Latn-uig_Arab" in n and "left out of every average" in n for n in chrf.notes)
    groups = [g.name for g in chrf.groups]
    assert groups[:3] == ["all", "xx→eng", "eng→xx"] and {"Arabic", "Tibetan"} <= set(groups)
    # COMET: the flagged Tibetan target is shown but not averaged
    comet = next(t for t in comparison.tables if t.metric == "comet")
    assert "eng_Latn-bod_Tibt" not in comet.common["all"]
    markdown = (out / "compare.md").read_text()
    assert "—" in markdown and "left out of every average" in markdown


def test_latex_structure(compared):
    comparison, out = compared
    tex = (out / "compare.tex").read_text()
    for env in ("table", "tabular"):
        assert tex.count(rf"\begin{{{env}}}") == tex.count(rf"\end{{{env}}}") == len(comparison.tables)
    for block in tex.split(r"\begin{tabular}")[1:]:
        body = block.split(r"\midrule")[1].split(r"\bottomrule")[0]
        rows = [line for line in body.strip().splitlines() if line.strip()]
        assert len(rows) == len(comparison.labels)  # one row per system
        spec = re.sub(r"@\{[^}]*\}", "", block.split("\n", 1)[0])  # {lrr@{\quad}rr} -> {lrrrr}
        n_cols = spec.count("l") + spec.count("r")
        assert all(row.count(" & ") + 1 == n_cols and row.endswith(r"\\") for row in rows)
    assert r"\toprule" in tex and r"\textbf{" in tex and r"$^\dagger$" in tex
    assert "paired bootstrap resampling, n=1000, seed 12345" in tex
    assert not re.search(r"(?<!\\)_", tex.replace(r"\_", "")), "unescaped underscore"


def test_csv_long_format_and_json(compared):
    comparison, out = compared
    frame = pd.read_csv(out / "compare.csv")
    assert set(frame["metric"]) == {"chrf++", "spbleu", "comet"}
    rows = frame[(frame.kind == "direction") & (frame.metric == "chrf++")]
    assert len(rows) == len(comparison.labels) * 4
    assert rows[rows.system == comparison.baseline]["p_value"].isna().all()
    assert rows[rows.system != comparison.baseline]["p_value"].notna().sum() == 2 * 4 - 1  # one direction missing
    record = json.loads((out / "compare.json").read_text())
    assert record["significance"]["seed"] == 12345 and record["significance"]["n_samples"] == 1000
    assert record["baseline"] == comparison.labels[0] == "model.path=ckpt/base seed=1"


def test_hydra_multirun_dir_expands_with_override_labels(tmp_path):
    sweep = tmp_path / "sweep"
    refs = references(20, 5)
    for job, (algo, seed) in enumerate([("grpo", 1), ("grpo", 2), ("espo", 1)]):
        write_eval_dir(sweep / str(job), [result_record("eng_Latn", "bod_Tibt", noisy(refs, 0.3, job), refs)],
                       overrides=[f"algo={algo}", f"seed={seed}", "train.rl_steps=5"])
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    cfg = CompareConfig(runs=[str(sweep)], compare=CompareSettings(formats=["json"], plots=False))
    comparison = run_compare(cfg, tmp_path / "out", Console(file=open(os.devnull, "w")))
    assert comparison.labels == ["algo=grpo seed=1", "algo=grpo seed=2", "algo=espo seed=1"]


def _quiet_compare(runs, baseline=None, **settings):
    cfg = CompareConfig(runs=[str(r) for r in runs], baseline=None if baseline is None else str(baseline),
                        compare=CompareSettings(formats=["json"], plots=False, significance=False, **settings))
    return run_compare(cfg, Path(runs[0]).parent / "out", Console(file=open(os.devnull, "w")))


def test_mixed_dataset_versions_error_or_warning(tmp_path):
    refs = references(20, 5)
    a = write_eval_dir(tmp_path / "a", [result_record("eng_Latn", "bod_Tibt", refs, refs,
                                                      dataset={"name": "flores200", "version": "v1"})])
    b = write_eval_dir(tmp_path / "b", [result_record("eng_Latn", "bod_Tibt", refs, refs,
                                                      dataset={"name": "flores200", "version": "v2"})])
    with pytest.raises(VepoError, match="different dataset versions.*allow_mixed"):
        _quiet_compare([a, b])
    comparison = _quiet_compare([a, b], allow_mixed=True)
    assert any(w.startswith("WARNING") and "dataset versions" in w for w in comparison.warnings)


def test_metric_parameters_must_match(tmp_path):
    refs = references(20, 5)
    a = write_eval_dir(tmp_path / "a", [result_record("eng_Latn", "bod_Tibt", refs, refs)])
    b = write_eval_dir(tmp_path / "b", [result_record("eng_Latn", "bod_Tibt", refs, refs,
                                                      chrf=CHRF(word_order=0))])
    with pytest.raises(VepoError, match=r"chrf\+\+ was computed with different parameters.*nw:0"):
        _quiet_compare([a, b])
    # a sacrebleu version difference alone: still comparable, with a warning
    record = result_record("eng_Latn", "bod_Tibt", refs, refs)
    record["metrics"]["chrf++"]["signature"] = record["metrics"]["chrf++"]["signature"].replace("2.6.0", "2.4.3")
    c = write_eval_dir(tmp_path / "c", [record])
    comparison = _quiet_compare([a, c])
    assert any("only in sacrebleu version" in w for w in comparison.warnings)


def test_directory_without_results(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VepoError, match=r"no results in '.*empty'"):
        _quiet_compare([tmp_path / "empty"])


def test_cli_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_vepo("compare", f"runs=[{tmp_path / 'empty'}]", f"hydra.run.dir={tmp_path / 'out'}")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "no results in" in lines[0] and "empty" in lines[0]
    proc = run_vepo("compare", f"hydra.run.dir={tmp_path / 'out'}")
    assert proc.returncode == 2 and "needs runs" in proc.stderr


def test_real_runs_cli_and_curves(smoke_run, tmp_path):
    """Result files and metrics.jsonl written by the training/evaluation code: a baseline run and a two-seed
    multirun made from copies of it (different overrides, shifted rewards), compared through the CLI."""
    sweep = tmp_path / "sweep"
    ignore = shutil.ignore_patterns("checkpoint", "models", "trainer", "cache", "wandb")
    for job, seed in enumerate((1, 2)):
        job_dir = sweep / str(job)
        shutil.copytree(smoke_run, job_dir, ignore=ignore)
        (job_dir / ".hydra" / "overrides.yaml").write_text(f"- algo=espo\n- seed={seed}\n")
        rows = [json.loads(line) for line in (job_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
        for row in rows:
            if "reward_mean" in row:  # logged on the steps that sample rollouts only
                row["reward_mean"] = row["reward_mean"] + 0.1 * seed
        (job_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        stage = job_dir / "results" / ("rl.json" if (job_dir / "results" / "rl.json").is_file() else "sft.json")
        record = json.loads(stage.read_text())
        record.pop("references", None)  # older stage files: references come back from the run's FLORES layout
        stage.write_text(json.dumps(record))
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    out = tmp_path / "out"
    proc = run_vepo("compare", f"runs=[{sweep}]", f"baseline={smoke_run}", "--format", "markdown,latex,csv,json",
                    f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((out / "compare.json").read_text())
    assert [s["label"] for s in record["systems"]][1:] == ["algo=espo seed=1", "algo=espo seed=2"]
    rows = [r for r in record["rows"] if r["kind"] == "direction" and not r["baseline"]]
    assert rows and all(r["p_value"] is not None for r in rows)  # references were found again
    assert (out / "compare.tex").is_file() and (out / "compare.md").is_file()
    pngs = sorted((out / "curves").glob("*.png"))
    names = {p.name for p in pngs}
    assert {"reward_mean.png", "entropy_mean.png", "clip_frac.png", "eval_chrf++.png"} <= names
    assert all(p.stat().st_size > 5000 and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_format_flag_and_long_labels():
    from vepo.cli.compare import format_flag_to_override
    from vepo.reporting.labels import _text

    assert format_flag_to_override(["runs=[a]", "--format", "latex, csv", "--cfg", "job"]) == [
        "runs=[a]", "compare.formats=[latex,csv]", "--cfg", "job"]
    assert format_flag_to_override(["--format=markdown"]) == ["compare.formats=[markdown]"]
    parts = {"algo": "espo", "a.b": "1", "c.d": "2", "e.f": "3", "seed": "7"}
    assert _text(parts) == "algo=espo a.b=1 c.d=2 seed=7 …"  # at most four keys, the seed kept


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    """Two seeds of algo=espo (2 and 3 off-policy steps), one run of algo=vepo, and an eval directory as baseline;
    compared once with every format but LaTeX. Steps alternate on-policy / off-policy as with
    train.steps_per_generation=2; the on-policy steps carry q5 grad shares of 0.5, so averaging them in would show."""
    root = tmp_path_factory.mktemp("diag")
    refs = references(20, 5)

    def record(seed: int) -> dict:
        return result_record("eng_Latn", "bod_Tibt", noisy(refs, 0.3, seed), refs)

    espo_1 = [on_policy_step(1),
              diag_step(2, kl_old=0.02, clip_frac=0.10, ratio_mean=0.98, entropy_q5=(0.2, 0.30, 0.40),
                        rarity_q5=(0.05, 0.50, 0.04)),
              on_policy_step(3),
              diag_step(4, kl_old=0.04, clip_frac=0.30, ratio_mean=1.02, entropy_q5=(0.2, 0.10, 0.20),
                        rarity_q5=(0.0, None, None))]  # no rare token sampled: no clip_frac / grad_share logged
    espo_2 = [on_policy_step(1),
              diag_step(2, kl_old=0.06, clip_frac=0.20, ratio_mean=0.96, entropy_q5=(0.2, 0.20, 0.30),
                        rarity_q5=(0.10, 0.30, 0.20)),
              on_policy_step(3),
              diag_step(4, kl_old=0.02, clip_frac=0.00, ratio_mean=1.00, entropy_q5=(0.2, 0.00, 0.10),
                        rarity_q5=(0.04, 0.10, 0.06)),
              on_policy_step(5),
              diag_step(6, kl_old=0.05, clip_frac=0.40, ratio_mean=0.97, entropy_q5=(0.2, 0.60, 0.30),
                        rarity_q5=(0.06, 0.20, 0.10))]
    vepo_1 = [on_policy_step(1),
              diag_step(2, kl_old=0.01, clip_frac=0.05, ratio_mean=0.99, entropy_q5=(0.2, 0.10, 0.25),
                        rarity_q5=(0.08, 0.0, 0.12))]
    runs = [write_train_run(root / "espo1", record(1), ["algo=espo", "seed=1"], espo_1),
            write_train_run(root / "espo2", record(2), ["algo=espo", "seed=2"], espo_2),
            write_train_run(root / "vepo1", record(3), ["algo=vepo", "seed=1"], vepo_1)]
    # labels come from keys every system has, so the eval directory names algo and seed too
    base = write_eval_dir(root / "sft", [record(4)], overrides=["algo=sft", "seed=1"])
    cfg = CompareConfig(runs=[str(r) for r in runs], baseline=str(base),
                        compare=CompareSettings(formats=["rich", "markdown", "csv", "json"], significance=False))
    terminal = io.StringIO()
    comparison = run_compare(cfg, root / "out", Console(file=terminal, width=200))
    return comparison, root / "out", terminal.getvalue()


# Hand-computed: per run the mean over its off-policy steps, then the mean over the two espo seeds (equal weight).
ESPO_EXPECTED = {
    "clip_frac": ((0.10 + 0.30) / 2 + (0.20 + 0.00 + 0.40) / 3) / 2,  # 0.2
    "kl_old": ((0.02 + 0.04) / 2 + (0.06 + 0.02 + 0.05) / 3) / 2,
    "ratio_mean": ((0.98 + 1.02) / 2 + (0.96 + 1.00 + 0.97) / 3) / 2,
    "entropy_q5_grad_share": ((0.40 + 0.20) / 2 + (0.30 + 0.10 + 0.30) / 3) / 2,
    "entropy_q5_clip_frac": ((0.30 + 0.10) / 2 + (0.20 + 0.00 + 0.60) / 3) / 2,
    "rarity_q5_grad_share": ((0.04 + 0.0) / 2 + (0.20 + 0.06 + 0.10) / 3) / 2,  # the empty bucket's share is 0
    "rarity_q5_clip_frac": (0.50 + (0.30 + 0.10 + 0.20) / 3) / 2,  # its clip fraction is undefined, not 0
    "rarity_q5_token_share": ((0.05 + 0.0) / 2 + (0.10 + 0.04 + 0.06) / 3) / 2,
}
VEPO_EXPECTED = {"clip_frac": 0.05, "kl_old": 0.01, "ratio_mean": 0.99, "entropy_q5_grad_share": 0.25,
                 "entropy_q5_clip_frac": 0.10, "rarity_q5_grad_share": 0.12, "rarity_q5_clip_frac": 0.0,
                 "rarity_q5_token_share": 0.08}


def test_diagnostics_table_means_over_off_policy_steps(diagnosed):
    comparison, _, _ = diagnosed
    rows = {row.system: row for row in comparison.diagnostics.rows}
    assert list(rows) == ["algo=espo", "algo=vepo seed=1"]  # one row per configuration; the eval system has none
    espo, vepo = rows["algo=espo"], rows["algo=vepo seed=1"]
    assert (espo.n, espo.off_policy_steps, vepo.n, vepo.off_policy_steps) == (2, 5, 1, 1)
    assert espo.values == pytest.approx(ESPO_EXPECTED)
    assert vepo.values == pytest.approx(VEPO_EXPECTED)
    assert not any("algo=sft" in label for row in comparison.diagnostics.rows for label in row.runs)


def test_diagnostics_in_every_format(diagnosed):
    comparison, out, terminal = diagnosed
    frame = pd.read_csv(out / "diagnostics.csv").set_index("system")
    assert list(frame.index) == ["algo=espo", "algo=vepo seed=1"]
    assert frame.loc["algo=espo", "n"] == 2 and frame.loc["algo=espo", "runs"] == "algo=espo seed=1; algo=espo seed=2"
    for name, expected in ESPO_EXPECTED.items():
        assert frame.loc["algo=espo", name] == pytest.approx(expected)
    block = json.loads((out / "compare.json").read_text())["diagnostics"]
    assert block["columns"]["rarity_q5_clip_frac"] == "diag/rarity_q5/clip_frac"
    assert [r["system"] for r in block["rows"]] == ["algo=espo", "algo=vepo seed=1"]
    assert block["rows"][0]["kl_old"] == pytest.approx(ESPO_EXPECTED["kl_old"])
    markdown = (out / "compare.md").read_text()
    assert "## Training diagnostics" in markdown and "| algo=espo | 2 | 5 | 0.200 |" in markdown
    assert "Training diagnostics" in terminal and "0.350" in terminal  # espo's rarest-quintile clip fraction


def test_diagnostic_curves_written(diagnosed):
    _, out, _ = diagnosed
    panels = {f"diag_{bucketing}_{stat}.png" for bucketing in ("entropy", "rarity")
              for stat in ("token_share", "clip_frac", "grad_share")}
    names = {p.name for p in (out / "curves").glob("*.png")}
    assert panels | {"diag_kl_old.png", "objective_ratio_mean.png", "clip_frac.png"} <= names
    for name in panels:
        data = (out / "curves" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000  # five panels with lines, not a blank canvas


def test_diagnostics_switch(diagnosed, tmp_path):
    comparison, out, _ = diagnosed
    runs = [str(p) for p in comparison.paths.values()]
    cfg = CompareConfig(runs=runs, compare=CompareSettings(formats=["csv"], significance=False, diagnostics=False,
                                                           curves=["clip_frac"]))
    off = run_compare(cfg, tmp_path, Console(file=open(os.devnull, "w")))
    assert off.diagnostics is None and not (tmp_path / "diagnostics.csv").exists()
    assert [p.name for p in (tmp_path / "curves").glob("*.png")] == ["clip_frac.png"]
