"""Every value checked before work starts (issue 17): numeric ranges, data files, group-option typos and hardware are
one line and exit code 2, before Hydra creates a run directory. Grouped by command; in-process (the check functions
`vepo` runs before a job), with a few CLI runs for the "no directory created" property itself."""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from typing import Dict, Optional

import pytest
from omegaconf import OmegaConf

from tests.conftest import run_vepo
from vepo.config.compare import CompareConfig
from vepo.config.ranges import ranged, ranged_values, unranged_numeric_fields
from vepo.config.schema import EvalConfig, TrainConfig
from vepo.config.shorthands import expand_shorthands
from vepo.config.tokenization import ExtendVocabConfig, TokenizeStatsConfig
from vepo.config.validate import compose_config, validate_overrides
from vepo.data.parallel import read_parallel
from vepo.errors import VepoError
from vepo.evaluation.checks import check_eval_config
from vepo.reporting.checks import check_compare_config
from vepo.tokenization.checks import check_extend_vocab_config, check_tokenize_stats_config
from vepo.training.checks import check_train_config

# command config name -> (root schema, the check `vepo <command>` runs before any job)
COMMANDS = {
    "train": (TrainConfig, check_train_config),
    "eval": (EvalConfig, check_eval_config),
    "tokenize_stats": (TokenizeStatsConfig, check_tokenize_stats_config),
    "extend_vocab": (ExtendVocabConfig, check_extend_vocab_config),
    "compare": (CompareConfig, check_compare_config),
}


def _refused(config_name: str, args: list[str]) -> str:
    """The one-line error `vepo <command> args` stops with before any job (shorthands expanded as the CLI does)."""
    with pytest.raises(VepoError) as info:
        validate_overrides(config_name, expand_shorthands(args), COMMANDS[config_name][1])
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def checkpoint(tmp_path):
    """A directory that passes the model-path check (the checks never load it)."""
    path = tmp_path / "ckpt"
    path.mkdir()
    (path / "config.json").write_text("{}")
    return path


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr("vepo.utils.devices.visible_gpus", lambda: 0)


@pytest.fixture
def flores_copy(flores_dir, tmp_path):
    """A writable copy of the synthetic FLORES directory (eng_Latn, bod_Tibt, kaz_Cyrl; 24 lines per split)."""
    return shutil.copytree(flores_dir, tmp_path / "flores")


# --- every command: the schema's declared ranges -----------------------------------------------------------------


@pytest.mark.parametrize("schema", [s for s, _ in COMMANDS.values()], ids=list(COMMANDS))
def test_every_numeric_field_declares_its_range(schema):
    assert unranged_numeric_fields(schema) == []  # declare one with vepo.config.ranges.ranged(default, ge=...)


@dataclass
class _Inner:
    ok: int = ranged(1, ge=0)
    loose: Optional[float] = None
    flag: bool = False


@dataclass
class _Root:
    inner: _Inner = field(default_factory=_Inner)
    named: Dict[str, _Inner] = field(default_factory=dict)
    count: int = 3


def test_the_range_census_finds_an_undeclared_field():
    assert unranged_numeric_fields(_Root) == ["inner.loose", "named.loose", "count"]


@pytest.mark.parametrize("config_name", list(COMMANDS))
def test_every_declared_bound_is_enforced_by_its_command_check(config_name):
    """For every ranged value of the composed config, a value just outside its range makes the command's check
    name that key in one line (so no command can forget the range check)."""
    cfg = compose_config(config_name, ["reward=vepo"] if config_name == "train" else [])
    check = COMMANDS[config_name][1]
    tried = 0
    for key, _, rng in ranged_values(OmegaConf.to_object(cfg)):
        bad = rng.outside()
        if bad is None:
            continue
        broken = copy.deepcopy(cfg)
        OmegaConf.update(broken, key, bad)
        with pytest.raises(VepoError) as info:
            check(broken)
        assert str(info.value).startswith(f"config error: {key}=") and "\n" not in str(info.value), key
        tried += 1
    assert tried >= 1


def test_non_finite_numbers_are_refused():
    assert _refused("train", ["train.rl_lr=nan"]) == "config error: train.rl_lr=nan must be > 0"
    assert _refused("train", ["train.weight_decay=inf"]) == "config error: train.weight_decay=inf must be >= 0"


# --- vepo train --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("override,message", [
    ("train.rl_steps=-5", "config error: train.rl_steps=-5 must be >= 0 (0 skips RL)"),
    ("train.gradient_accumulation_steps=0", "config error: train.gradient_accumulation_steps=0 must be >= 1"),
    ("train.prompts_per_step=0", "config error: train.prompts_per_step=0 must be >= 1"),
    ("train.temperature=0", "config error: train.temperature=0.0 must be > 0 (RL samples its completions; 0.7-1.0 "
                            "is usual)"),
    ("train.num_generations=1", "config error: train.num_generations=1 must be >= 2 (group advantages compare at "
                                "least 2 completions per prompt)"),
    ("train.top_p=1.5", "config error: train.top_p=1.5 must be in (0, 1]"),
    ("seed=-1", "config error: seed=-1 must be in [0, 4294967295]"),
    ("reward.terms.chrf.weight=-1", "config error: reward.terms.chrf.weight=-1.0 must be >= 0 (components score in "
                                    "[0, 1]; a gate, not a negative weight, penalises)"),
])
def test_train_issue_examples_are_one_line(override, message):
    assert _refused("train", [override]) == message


def test_train_dry_run_refuses_the_same_values(tmp_path, monkeypatch, capsys):
    from vepo.cli.train import run

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        run(["--dry-run", "train.rl_steps=-5"])
    assert info.value.code == 2
    assert "train.rl_steps=-5 must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists()


def test_train_tiny_model_shape_is_checked():
    assert "must be a whole, even head size" in _refused("train", ["model.tiny.num_attention_heads=3"])
    assert "must be a multiple of model.tiny.num_key_value_heads=3" in _refused(
        "train", ["model.tiny.num_key_value_heads=3"])


def test_train_model_typo_lists_the_options_but_ids_and_directories_pass(tmp_path, monkeypatch, checkpoint):
    assert _refused("train", ["model=qwen2.5-0.5b-instuct"]) == (
        "config error: unknown option 'qwen2.5-0.5b-instuct' for group 'model'; allowed: qwen2.5-0.5b, "
        "qwen2.5-0.5b-instruct, qwen2.5-1.5b-instruct, tiny; or an existing model directory or an HF id: model=<dir> "
        "or model=<org>/<name>; did you mean 'qwen2.5-0.5b-instruct'?")
    assert "unknown option 'llama'" in _refused("train", ["model=llama"])  # neither option, path nor org/name
    assert _refused("train", ["algo=grpp"]).endswith("; did you mean 'grpo'?")
    assert _refused("train", ["train.rl_step=3"]).endswith("; did you mean 'train.rl_steps'?")
    assert expand_shorthands(["model=Qwen/Qwen2.5-0.5B"]) == ["model.path=Qwen/Qwen2.5-0.5B"]
    monkeypatch.chdir(tmp_path)
    assert expand_shorthands(["model=ckpt"]) == ["model.path=ckpt"]  # an existing directory, no slash
    check_train_config(compose_config("train", ["model=ckpt"]))
    assert "does not exist" in _refused("train", ["model=./missing"])


def test_train_gpu_profile_needs_a_gpu_here_but_not_on_a_cluster(no_gpu, monkeypatch):
    assert _refused("train", ["hardware=gpu"]) == (
        "config error: hardware.device=cuda needs a CUDA GPU, but torch finds none on this machine; use hardware=cpu "
        "instead of hardware=gpu, or run where a GPU is visible (check CUDA_VISIBLE_DEVICES)")
    assert _refused("train", ["reward.device=cuda"]).startswith("config error: reward.device=cuda needs a CUDA GPU")
    # SLURM jobs find their GPUs on the cluster: the login node's lack of one is no error
    validate_overrides("train", ["-m", "hardware=gpu", "hydra/launcher=submitit_slurm"], check_train_config)
    monkeypatch.setattr("vepo.utils.devices.visible_gpus", lambda: 1)
    validate_overrides("train", ["hardware=gpu"], check_train_config)
    assert "with 4 processes needs 4 GPUs, but torch finds 1" in _refused(
        "train", ["hardware=multi_gpu", "hardware.num_processes=4"])


# --- vepo train: the training data --------------------------------------------------------------------------------


def _tsv(tmp_path, text: str, name: str = "c.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


PAIRS = "one\tuno\ntwo\tdos\n"


@pytest.mark.parametrize("head", ["src\ttgt", "source\ttarget", "Source\tTarget", "eng_Latn\tbod_Tibt"])
def test_tsv_header_row_is_detected_and_skipped_with_a_note(tmp_path, head):
    pairs, report = read_parallel(_tsv(tmp_path, f"{head}\n{PAIRS}"), langs=("eng_Latn", "bod_Tibt"))
    assert pairs == [("one", "uno"), ("two", "dos")] and report.rows_read == 2
    assert f"skipped the header row ({head.replace(chr(9), ', ')})" in report.summary()


def test_tsv_header_picks_named_columns(tmp_path):
    path = _tsv(tmp_path, "id\ttgt\tsrc\tscore\n1\tuno\tone\t0.9\n2\tdos\ttwo\t0.8\n")
    assert read_parallel(path)[0] == [("one", "uno"), ("two", "dos")]
    codes = _tsv(tmp_path, "bod_Tibt\teng_Latn\nuno\tone\n", "codes.tsv")  # target first: picked by the run's codes
    assert read_parallel(codes, langs=("eng_Latn", "bod_Tibt"))[0] == [("one", "uno")]
    plain = _tsv(tmp_path, f"src\ttgt\n{PAIRS}", "plain.tsv")
    assert read_parallel(plain, tsv_header=False)[0] == [("src", "tgt"), ("one", "uno"), ("two", "dos")]


@pytest.mark.parametrize("text,kwargs,message", [
    ("src\ttgt\n", {}, "c.tsv: only a header row (src, tgt), no sentence pairs; add the pairs below it"),
    ("one\tuno\tx\n", {}, "c.tsv:1: 3 tab-separated columns; a TSV without a header row is exactly source<TAB>target"),
    ("src\ttgt\none\tuno\ntwo\tdos\textra\n", {}, "c.tsv:3: 3 columns, but the header row has 2"),
    ("id\ta\tb\n1\tx\ty\n", {"tsv_header": True}, "c.tsv:1: the header row names 3 columns (id, a, b); set "
                                                  "data.src_field and data.tgt_field"),
    ("fra_Latn\tdeu_Latn\nun\tein\n", {"langs": ("eng_Latn", "bod_Tibt")},
     "c.tsv:1: the header names the languages fra_Latn, deu_Latn, but this run translates eng_Latn -> bod_Tibt"),
])
def test_tsv_shape_problems_name_file_and_line(tmp_path, text, kwargs, message):
    with pytest.raises(VepoError) as info:
        read_parallel(_tsv(tmp_path, text), **kwargs)
    assert message in str(info.value)


def test_tsv_blank_lines_are_dropped_and_counted(tmp_path):
    pairs, report = read_parallel(_tsv(tmp_path, "one\tuno\n\n   \ntwo\tdos\n"))
    assert pairs == [("one", "uno"), ("two", "dos")]
    assert report.empty == 2 and report.empty_at == ["c.tsv:2", "c.tsv:3"]


@pytest.mark.parametrize("files,message", [
    ({"c.tsv": b"src\ttgt\n"}, "only a header row (src, tgt)"),
    ({"c.tsv": b"one\tuno\n\xc3\x28\tx\n"}, "c.tsv:2: not valid UTF-8"),
    ({"c.tsv": b"one\tuno\tthree\n"}, "c.tsv:1: 3 tab-separated columns"),
    ({"s.txt": b"a\nb\n", "t.txt": b"x\n"}, "has 2 lines but"),
])
def test_train_reads_the_whole_corpus_before_the_job(tmp_path, files, message):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    args = ["data=parallel", f"data.path={tmp_path / next(iter(files))}", "lang=bod_Tibt"]
    if "t.txt" in files:
        args.append(f"data.tgt_path={tmp_path / 't.txt'}")
    assert message in _refused("train", args)


def test_train_explicit_tsv_header_key(tmp_path):
    path = _tsv(tmp_path, "English\tTibetan\n" + PAIRS)
    check_train_config(compose_config("train", ["data=parallel", f"data.path={path}", "lang=bod_Tibt",
                                                "data.tsv_header=true"]))


@pytest.mark.parametrize("split,content,message", [
    ("dev", "", "bod_Tibt.dev: no sentences (an empty file)"),
    ("dev", "a\n\nb\n", "bod_Tibt.dev: empty sentence at line 2"),
    ("devtest", "only one line\n", "has 24 lines but"),  # the evaluation after training reads devtest
])
def test_train_flores_files_are_read_before_the_job(flores_copy, split, content, message):
    (flores_copy / split / f"bod_Tibt.{split}").write_text(content, encoding="utf-8")
    assert message in _refused("train", ["data=flores_dev", "lang=bod_Tibt", f"data.flores_dir={flores_copy}"])


# --- vepo eval ---------------------------------------------------------------------------------------------------


def test_eval_ranges(checkpoint):
    assert _refused("eval", [f"model={checkpoint}", "eval.batch_size=0"]) == \
        "config error: eval.batch_size=0 must be >= 1"
    assert _refused("eval", [f"model={checkpoint}", "eval.max_segments=0"]) == \
        "config error: eval.max_segments=0 must be >= 1 (null: every segment)"


@pytest.mark.parametrize("content,message", [
    (b"", "bod_Tibt.devtest: no sentences (an empty file); a FLORES file has one sentence per line"),
    (b"x\n" * 23, "bod_Tibt.devtest has 23; FLORES files must be line-parallel"),
    (b"x\n\xff\n", "bod_Tibt.devtest:2: not valid UTF-8"),
])
def test_eval_empty_or_broken_split_is_one_line(checkpoint, flores_copy, content, message):
    (flores_copy / "devtest" / "bod_Tibt.devtest").write_bytes(content)
    args = [f"model={checkpoint}", "suite=custom", "suite.directions=[eng_Latn-bod_Tibt]",
            f"data.flores_dir={flores_copy}"]
    assert message in _refused("eval", args)


def test_eval_gpu_profile_needs_a_gpu_unless_scoring_files(no_gpu, checkpoint, flores_copy, tmp_path):
    args = ["suite=custom", "suite.directions=[eng_Latn-bod_Tibt]", f"data.flores_dir={flores_copy}", "hardware=gpu"]
    assert "hardware.device=cuda needs a CUDA GPU" in _refused("eval", [f"model={checkpoint}", *args])
    validate_overrides("eval", [f"hyps={tmp_path}", *args], check_eval_config)  # no generation, no GPU needed
    assert "COMET runs there" in _refused("eval", [f"hyps={tmp_path}", "eval.comet=true", *args])


# --- vepo tokenize-stats -----------------------------------------------------------------------------------------


def test_tokenize_stats_empty_split_and_limits_are_one_line(flores_copy):
    (flores_copy / "devtest" / "kaz_Cyrl.devtest").write_text("", encoding="utf-8")
    args = ["tokenizers=[some/tokenizer]", f"data.flores_dir={flores_copy}"]
    assert "kaz_Cyrl.devtest: no sentences (an empty file)" in _refused("tokenize_stats", [*args, "langs=all"])
    assert _refused("tokenize_stats", [*args, "langs=[bod_Tibt]", "max_sentences=0"]) == \
        "config error: max_sentences=0 must be >= 1 (null: every sentence)"
    validate_overrides("tokenize_stats", [*args, "langs=[bod_Tibt]"], check_tokenize_stats_config)


# --- vepo extend-vocab and vepo compare --------------------------------------------------------------------------


def test_extend_vocab_and_compare_ranges(checkpoint):
    assert _refused("extend_vocab", [f"model={checkpoint}", "corpus=x.txt", "heldout_fraction=1"]) == \
        "config error: heldout_fraction=1.0 must be in (0, 1)"
    assert _refused("compare", ["runs=[a]", "compare.seed=0"]) == \
        "config error: compare.seed=0 must be in [1, 4294967295] (sacrebleu treats 0 as 'no fixed seed')"


# --- the CLI: refused before Hydra creates the run directory ------------------------------------------------------


def _assert_refused_without_a_run_dir(proc, run_dir, text: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], proc.stderr
    assert not run_dir.exists()


def test_cli_train_bad_value_creates_no_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_vepo("train", "train.rl_steps=-5", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    _assert_refused_without_a_run_dir(proc, run_dir, "train.rl_steps=-5 must be >= 0")
    assert not (tmp_path / "outputs").exists()


def test_cli_eval_empty_split_creates_no_run_directory(checkpoint, flores_copy, tmp_path):
    (flores_copy / "devtest" / "bod_Tibt.devtest").write_text("", encoding="utf-8")
    run_dir = tmp_path / "run"
    proc = run_vepo("eval", f"model={checkpoint}", "suite=custom", "suite.directions=[eng_Latn-bod_Tibt]",
                    f"data.flores_dir={flores_copy}", f"hydra.run.dir={run_dir}")
    _assert_refused_without_a_run_dir(proc, run_dir, "bod_Tibt.devtest: no sentences (an empty file)")


@pytest.mark.parametrize("override, message", [
    ("rollout=vllm_colocate", "rollout=vllm_colocate needs the vllm package"),
    ("rollout=vllm_server", "rollout=vllm_server needs the vllm package"),
])
def test_train_vllm_rollout_without_vllm_is_one_line(override, message, monkeypatch):
    """The base environment has no vllm: a vLLM rollout is refused before SFT, not when the RL trainer is built."""
    import importlib.util

    from vepo.config.validate import validate_overrides
    from vepo.errors import VepoError
    from vepo.training.checks import check_train_config

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(VepoError) as err:
        validate_overrides("train", [override], check_train_config)
    assert message in str(err.value) and "rollout=hf" in str(err.value) and "\n" not in str(err.value)


def test_train_colocated_vllm_on_cpu_is_one_line(monkeypatch):
    import importlib.util

    from vepo.errors import VepoError
    from vepo.training import checks

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "vllm" else real(n, *a))
    with pytest.raises(VepoError, match="generates on the training GPU, but hardware.device=cpu"):
        checks._check_rollout("vllm_colocate", "cpu")
    checks._check_rollout("vllm_server", "cpu")  # a vLLM server runs elsewhere; the trainer may be anywhere
