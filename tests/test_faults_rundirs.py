"""Nothing already written is lost or mixed, and a failing command leaves no empty output directory.

One run per directory (`vepo train` into a run is refused unless it resumes; a resume or an eval rerun that would
train or generate differently is refused, naming the keys), an OS lock while a command writes (a killed holder never
blocks), `vepo eval` never writes into a train run, and a job that fails inside Hydra removes the directory it
created when nothing worth keeping was written. Grouped by command; in-process wherever the code path allows."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from vepo.errors import VepoError
from vepo.utils.run_dir import LOCK_FILE, DirBefore, RunDirLock, refuse_if_locked, remove_if_nothing_written


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def _keep_logging():
    """Hydra's main configures the root logger (a file handler in the run directory): undo it after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _cli(command: str, args: list[str], capsys) -> tuple[int, list[str]]:
    """Run `vepo <command> ...` in this process: the exit code and the non-empty stderr lines."""
    from vepo.cli import eval as eval_cli
    from vepo.cli import train as train_cli

    capsys.readouterr()
    try:
        (train_cli if command == "train" else eval_cli).run(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.fixture
def run_copy(smoke_run, tmp_path) -> Path:
    """A finished smoke-size train run of our own to refuse things in."""
    return Path(shutil.copytree(smoke_run, tmp_path / "run", symlinks=True))


@pytest.fixture
def lock_holder():
    """Another process holding a directory's lock until it is killed (kill -9: no chance to clean up)."""
    procs = []

    def hold(directory: Path, command: str = "vepo train") -> subprocess.Popen:
        code = ("import sys; from pathlib import Path; from vepo.utils.run_dir import RunDirLock\n"
                "with RunDirLock(Path(sys.argv[1]), sys.argv[2]):\n    print('held', flush=True); sys.stdin.read()")
        proc = subprocess.Popen([sys.executable, "-c", code, str(directory), command], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield hold
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


# --- vepo train ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["finished", "unfinished"])
def test_train_into_a_directory_holding_a_run_is_refused_and_changes_nothing(run_copy, capsys, state):
    if state == "unfinished":  # killed mid-RL: no final checkpoint, no summary
        shutil.rmtree(run_copy / "checkpoint")
        (run_copy / "summary.json").unlink()
    before = _files(run_copy)
    code, err = _cli("train", [f"hydra.run.dir={run_copy}"], capsys)
    assert code == 2
    assert err == [f"error: hydra.run.dir={run_copy} already holds a vepo train run; pass resume={run_copy} (or "
                   f"resume=auto) to continue it, or choose another hydra.run.dir"]
    assert _files(run_copy) == before


def test_resume_that_changes_the_algorithm_is_refused_naming_the_keys(run_copy, capsys):
    before = _files(run_copy)
    code, err = _cli("train", [f"resume={run_copy}", "algo=dapo"], capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: resume={run_copy}: algo.name: 'grpo' -> 'dapo', ")
    assert f"differ from {run_copy / 'config.yaml'}; a resume continues the same run" in err[0]
    assert _files(run_copy) == before
    # resume=auto into the run with another seed: the same rule
    original = [str(o) for o in OmegaConf.load(run_copy / ".hydra" / "overrides.yaml")]
    code, err = _cli("train", [*original, "resume=auto", "seed=7", f"hydra.run.dir={run_copy}"], capsys)
    assert code == 2 and "seed: 42 -> 7" in err[0] and _files(run_copy) == before


def test_resume_may_extend_rl_and_change_hardware_logging_and_checkpointing(run_copy):
    from vepo.config.run_dir_rules import check_train_dir
    from vepo.config.shorthands import expand_resume
    from vepo.config.validate import compose_config, split_overrides

    args = expand_resume([f"resume={run_copy}", "train.rl_steps=9", "train.save_steps=3", "hardware.num_threads=1",
                          "logger=wandb", "eval.batch_size=4"])
    cfg = OmegaConf.to_object(compose_config("train", [a for a in split_overrides(args) if not a.startswith("hydra")]))
    check_train_dir(cfg, run_copy)  # no error: these may change on resume
    cfg.train.max_completion_length = 32  # what the model generates during RL: not allowed
    with pytest.raises(VepoError, match=r"train.max_completion_length: 16 -> 32 differ from"):
        check_train_dir(cfg, run_copy)


def test_train_into_a_directory_another_process_holds_is_refused_and_a_killed_holder_blocks_nothing(
        run_copy, capsys, lock_holder):
    holder = lock_holder(run_copy)
    before = _files(run_copy)
    code, err = _cli("train", [f"resume={run_copy}"], capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: {run_copy} is in use by vepo train (pid {holder.pid} on ")
    assert err[0].endswith(f"wait for it to end or stop it (if that process no longer exists, delete "
                           f"{run_copy / LOCK_FILE})")
    code, err = _cli("eval", [f"model={run_copy / 'checkpoint'}", "suite=toy", f"output_dir={run_copy}"], capsys)
    assert code == 2 and err[0].startswith(f"error: {run_copy} is in use by vepo train")
    assert _files(run_copy) == before
    holder.send_signal(signal.SIGKILL)  # its lock file stays behind; the kernel dropped the lock
    holder.wait()
    assert (run_copy / LOCK_FILE).is_file()
    refuse_if_locked(run_copy)
    with RunDirLock(run_copy, "vepo train"):
        assert json.loads((run_copy / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (run_copy / LOCK_FILE).exists()  # let go: the file goes with the lock


def test_only_the_hydra_job_locks_a_launched_run_its_workers_do_not(tmp_path, lock_holder, monkeypatch):
    from vepo.config.schema import TrainConfig
    from vepo.training import train_command

    monkeypatch.setattr(train_command, "_run_training", lambda cfg, run_dir: {"trained": True})
    lock_holder(tmp_path)  # the Hydra job that started the workers
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert train_command.run_training(TrainConfig(), tmp_path) == {"trained": True}
    monkeypatch.delenv("LOCAL_RANK")
    with pytest.raises(VepoError, match="is in use by vepo train"):
        train_command.run_training(TrainConfig(), tmp_path)


def test_sweep_into_a_sweep_directory_holding_runs_is_refused_without_resume(run_copy, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    run_copy.rename(sweep / "0")
    before = _files(sweep)
    code, err = _cli("train", ["-m", "seed=1,2", f"hydra.sweep.dir={sweep}"], capsys)
    assert code == 2
    assert err == [f"error: hydra.sweep.dir={sweep} already holds runs (0); pass resume=auto to continue them, or "
                   f"choose another hydra.sweep.dir"]
    assert _files(sweep) == before


def test_train_failing_inside_its_job_leaves_no_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.tsv").write_text("no tab here\n")
    # Config checks fail before Hydra creates anything...
    code, _ = _cli("train", ["train.gradient_accumulation_steps=3"], capsys)
    assert code == 2 and not (tmp_path / "outputs").exists()
    # ...and a job failing after Hydra created outputs/train/<date>/<time>/ removes it (and the parents it made).
    code, err = _cli("train", ["data=parallel", f"data.path={tmp_path / 'bad.tsv'}"], capsys)
    assert code == 2 and err == [f"error: {tmp_path / 'bad.tsv'}:1: expected 'source<TAB>target', found no tab; "
                                 f"fix the line or the format"]
    assert not (tmp_path / "outputs").exists()


# --- vepo eval -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["output_dir", "hydra.run.dir"])
def test_eval_into_a_train_run_is_refused_and_changes_nothing(run_copy, capsys, key):
    before = _files(run_copy)
    code, err = _cli("eval", [f"model={run_copy / 'checkpoint'}", "suite=toy", f"{key}={run_copy}"], capsys)
    assert code == 2
    assert err == [f"error: {key}={run_copy} is a vepo train run: vepo eval would replace its summary.json and "
                   f"results; evaluate into {run_copy / 'eval'} (read by vepo compare as the run's suite results) "
                   f"or another directory"]
    assert _files(run_copy) == before


def test_eval_rerun_resumes_only_with_the_same_generation_settings(smoke_run, tmp_path, capsys):
    out = tmp_path / "eval"
    args = [f"model={smoke_run / 'checkpoint'}", "suite=toy", "data.n_devtest=8", "eval.spbleu=false",
            "eval.max_new_tokens=8", f"hydra.run.dir={out}"]
    assert _cli("eval", args, capsys)[0] == 0
    assert [p.name for p in (out / "results").glob("*.json")] == ["eng_Latn-toy_Tibt.json"]
    before = _files(out)
    code, err = _cli("eval", [*args, "eval.max_new_tokens=16"], capsys)
    assert code == 2
    assert err == [f"error: hydra.run.dir={out} holds results made with other settings (eval.max_new_tokens: 8 -> "
                   f"16, see {out / 'eval_config.yaml'}); a rerun there resumes it and must generate and score the "
                   f"same way: use another hydra.run.dir"]
    assert _files(out) == before
    # A batch size is free to change: the rerun keeps every finished direction as it was.
    assert _cli("eval", [*args, "eval.batch_size=4"], capsys)[0] == 0
    assert _files(out)["results/eng_Latn-toy_Tibt.json"] == before["results/eng_Latn-toy_Tibt.json"]
    # A directory without a saved config (e.g. a run's eval/ from train.eval_suite): each result says how it was made.
    from vepo.evaluation.store import ResultStore

    (out / "eval_config.yaml").unlink()
    shutil.rmtree(out / ".hydra")
    identity = json.loads((out / "results" / "eng_Latn-toy_Tibt.json").read_text())
    asked = {"model": identity["model"], "split": "devtest", "n_segments": 8, "dataset_version":
             identity["dataset"]["version"], "generation": {**identity["generation"], "max_new_tokens": 16}}
    with pytest.raises(VepoError, match=r"was generated with eval.max_new_tokens=8 \(this run: 16\)"):
        ResultStore(out).finished("eng_Latn-toy_Tibt", asked)


def test_eval_failing_inside_its_job_removes_only_what_it_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = [f"hyps={tmp_path / 'missing'}", "suite=toy", "data=toy"]
    line = f"error: hyps='{tmp_path / 'missing'}' is not a directory; it should hold <src>-<tgt>.txt files"
    assert _cli("eval", args, capsys) == (2, [line])
    assert not (tmp_path / "outputs").exists()  # outputs/eval/<date>/<time>/ held only .hydra/, the log, toy data
    kept = tmp_path / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine\n")
    assert _cli("eval", [*args, f"hydra.run.dir={kept}"], capsys) == (2, [line])
    assert (kept / "notes.txt").read_text() == "mine\n"  # a directory that held anything before is never removed
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _cli("eval", [*args, f"hydra.run.dir={empty}"], capsys) == (2, [line])
    assert empty.is_dir() and not any(empty.iterdir())  # made empty again, not removed


def test_cleanup_keeps_anything_worth_keeping(tmp_path):
    run = tmp_path / "outputs" / "train" / "day" / "time"
    before = DirBefore.snapshot(run)
    (run / ".hydra").mkdir(parents=True)
    (run / "train.log").write_text("")
    (run / "metrics.jsonl").write_text('{"step": 1}\n')  # a partial run is resumable: keep it
    assert not remove_if_nothing_written(before) and (run / "metrics.jsonl").is_file()
    (run / "metrics.jsonl").unlink()
    (run / "config.yaml").write_text("seed: 1\n")
    assert remove_if_nothing_written(before)
    assert not (tmp_path / "outputs").exists()
