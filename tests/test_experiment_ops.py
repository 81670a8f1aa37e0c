"""Experiment operations: W&B logging (real wandb, offline, no network) and Hydra sweeps with failing jobs.

The slow tests share one basic-launcher sweep of three tiny runs with logger=wandb, where two jobs meet real
failures planted in their directories before the sweep starts: job 1's `data` path is a file (the job crashes after
its W&B run opened), job 2's `wandb` path is a file (W&B cannot start; training must go on). A second, joblib sweep
checks that outcomes recorded in worker processes reach the summary; it costs about a minute of worker start-up
on two cores, so it runs when VEPO_TEST_LAUNCHERS=1.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import SMOKE_OVERRIDES, run_vepo

WANDB_ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def _wandb_env(tmp: Path) -> dict:
    """Offline W&B with every directory it might touch under `tmp` (no key, no network, nothing in $HOME)."""
    return {**WANDB_ENV, "WANDB_CONFIG_DIR": str(tmp / "wb_config"), "WANDB_CACHE_DIR": str(tmp / "wb_cache"),
            "WANDB_DATA_DIR": str(tmp / "wb_data"), "WANDB_DIR": str(tmp / "wb_default")}


def read_offline_run(run_file: Path) -> dict:
    """The records of an offline `run-*.wandb` file, read with wandb's own datastore reader."""
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal import datastore

    out: dict = {"history": [], "summary": {}, "config": {}, "tags": [], "exit_code": None}
    store = datastore.DataStore()
    store.open_for_scan(str(run_file))
    while (data := store.scan_data()) is not None:
        rec = pb.Record()
        rec.ParseFromString(data)
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            out["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            out["summary"].update({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                   for i in rec.summary.update})
        elif kind == "run":
            out["tags"] = list(rec.run.tags)
            out["config"].update({i.key: json.loads(i.value_json) for i in rec.run.config.update})
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in rec.config.update})
        elif kind == "exit":
            out["exit_code"] = rec.exit.exit_code
    return out


def _offline_run_file(run_dir: Path) -> Path:
    files = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    return files[0]


# --- fast: mode resolution, tags, failure handling, launcher configs, summaries ---------------------------------------

def test_auto_mode_is_online_only_with_a_key(monkeypatch, tmp_path):
    from vepo.training.wandb_logger import resolve_mode

    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    assert resolve_mode("auto") == "offline"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password x" + "0" * 39 + "\n")
    netrc.chmod(0o600)
    assert resolve_mode("auto") == "online"
    netrc.write_text("")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert resolve_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")  # an explicit environment choice wins in auto mode
    assert resolve_mode("auto") == "offline"
    assert resolve_mode("disabled") == "disabled"


def test_tags_come_from_the_overrides(tmp_path):
    from vepo.training.wandb_logger import override_tags

    (tmp_path / ".hydra").mkdir()
    long = "data.flores_dir=/" + "x" * 80
    (tmp_path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["algo=espo", "seed=3", long]))
    tags = override_tags(tmp_path, ["paper", "seed=3"])
    assert tags == ["algo=espo", "seed=3", long[:64], "paper"]


def test_sample_tables_follow_rollouts_that_come_every_other_step(tmp_path, monkeypatch):
    from vepo.config.schema import LoggerConfig, TrainConfig
    from vepo.training.wandb_logger import WandbSession

    for key, value in _wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    session = WandbSession(LoggerConfig(name="wandb", mode="offline", sample_every_steps=10)).start(
        TrainConfig(), tmp_path / "run")
    for step in range(0, 30, 2):  # steps_per_generation=2: rollouts for optimiser steps 1, 3, 5, …, 29
        session.observe_rewards(step, ["s"], ["h"], ["r"], [1.0])
    assert sorted(session._pending_samples) == [1, 11, 21]
    session.finish()


def test_a_wandb_failure_mid_run_is_logged_once_and_switches_wandb_off(tmp_path, monkeypatch, caplog):
    """A real failure: the W&B run is finished behind the session's back, so the next log raises UsageError."""
    from vepo.config.schema import LoggerConfig, TrainConfig
    from vepo.training.wandb_logger import WandbSession

    for key, value in _wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    session = WandbSession(LoggerConfig(name="wandb", mode="offline")).start(TrainConfig(), tmp_path / "run")
    assert session.active
    session.log_step("rl", {"step": 1, "stage": "rl", "reward_mean": 0.25})
    session.run.finish()
    with caplog.at_level(logging.WARNING, logger="vepo"):
        session.log_step("rl", {"step": 2, "stage": "rl", "reward_mean": 0.5})
        session.log_step("rl", {"step": 3, "stage": "rl", "reward_mean": 0.75})
        session.observe_rewards(9, ["s"], ["h"], ["r"], [1.0])
        session.log_summary({"chrf_rl": 1.0})
        session.finish()
    warnings = [r for r in caplog.records if "W&B" in r.getMessage()]
    assert len(warnings) == 1 and "UsageError" in warnings[0].getMessage()
    assert not session.active and session.callback("rl") == []
    history = read_offline_run(_offline_run_file(tmp_path / "run"))["history"]
    assert [h["rl/step"] for h in history] == [1]


def test_logger_none_opens_no_run(tmp_path):
    from vepo.config.schema import LoggerConfig, TrainConfig
    from vepo.training.wandb_logger import WandbSession

    session = WandbSession(LoggerConfig()).start(TrainConfig(), tmp_path)
    assert not session.active and session.callback("sft") == [] and not (tmp_path / "wandb").exists()


def test_submitit_slurm_launcher_composes_with_typical_overrides():
    from vepo.config.validate import compose_with_hydra

    cfg = compose_with_hydra("train", ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu",
                                       "hydra.launcher.timeout_min=240", "hydra.launcher.gpus_per_node=1",
                                       "hydra.launcher.cpus_per_task=8", "hydra.launcher.mem_gb=64", "seed=1"])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.timeout_min, launcher.gpus_per_node, launcher.cpus_per_task,
            launcher.mem_gb) == ("gpu", 240, 1, 8, 64)
    assert cfg.hydra.callbacks.sweep_summary._target_ == "vepo.cli.sweep.SweepSummaryCallback"
    assert cfg.seed == 1
    joblib = compose_with_hydra("train", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]).hydra.launcher
    assert joblib._target_.endswith("JoblibLauncher") and joblib.n_jobs == 2


@pytest.mark.parametrize("args, expected", [
    (["-m", "seed=1,2", "hydra/launcher=submitit_slurm", "hydra.launcher.partiton=gpu"],
     "unknown key 'hydra.launcher.partiton'; allowed keys here:"),
    (["hydra/launcher=slurm"], "unknown option 'slurm' for group 'hydra/launcher'; allowed: basic, joblib"),
    (["-m", "logger=wandb", "logger.mode=offline,onlin"], "logger.mode='onlin' is not one of"),
])
def test_sweep_and_launcher_overrides_fail_before_any_job(args, expected):
    from vepo.training.checks import check_train_config
    from vepo.config.validate import validate_overrides
    from vepo.errors import VepoError

    with pytest.raises(VepoError) as err:
        validate_overrides("train", args, check_train_config)
    assert expected in str(err.value) and "\n" not in str(err.value)
    if "unknown key" in expected:
        assert str(err.value).endswith("did you mean 'hydra.launcher.partition'?")


def test_summary_reports_jobs_without_a_status_as_unknown(tmp_path):
    from vepo.cli.sweep import STATUS_FILE, SUMMARY_FILE, summarize_sweep

    for num in (0, 1):
        job = tmp_path / str(num)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": num}}}))
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"seed={num}"]))
    (tmp_path / "0" / STATUS_FILE).write_text(json.dumps({"num": 0, "overrides": ["seed=0"], "status": "ok",
                                                          "error": None, "run_dir": str(tmp_path / "0")}))
    summary = summarize_sweep(tmp_path)
    assert [(j["num"], j["status"], j["overrides"]) for j in summary["jobs"]] == [(0, "ok", ["seed=0"]),
                                                                                 (1, "unknown", ["seed=1"])]
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["n_unknown"] == 1


# --- slow: real sweeps -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wandb_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wandb_sweep")
    sweep = tmp / "sweep"
    (sweep / "1").mkdir(parents=True)
    (sweep / "1" / "data").write_text("a file where the job writes its data directory\n")
    (sweep / "2").mkdir()
    (sweep / "2" / "wandb").write_text("a file where W&B wants its directory\n")
    proc = run_vepo("train", "-m", "seed=1,2,3", "logger=wandb", "logger.sample_every_steps=1", *SMOKE_OVERRIDES,
                    "train.evaluate_after_sft=false", f"hydra.sweep.dir={sweep}", env=_wandb_env(tmp))
    return sweep, proc


@pytest.mark.slow
def test_sweep_goes_on_after_a_failed_job_and_summarises(wandb_sweep):
    sweep, proc = wandb_sweep
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "1 of 3 sweep jobs did not finish" in proc.stderr
    failed_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: job 1 ")]
    assert len(failed_lines) == 1 and "NotADirectoryError" in failed_lines[0]

    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary["launcher"].endswith("BasicLauncher")
    assert [(j["num"], j["status"]) for j in summary["jobs"]] == [(0, "ok"), (1, "failed"), (2, "ok")]
    assert [j["overrides"][0] for j in summary["jobs"]] == ["seed=1", "seed=2", "seed=3"]
    assert summary["jobs"][1]["error"].startswith("NotADirectoryError")
    assert "Traceback" in (sweep / "1" / "error.log").read_text()
    for num in (0, 2):  # the jobs around the failure trained completely
        assert summary["jobs"][num]["run_dir"] == str(sweep / str(num))
        lines = (sweep / str(num) / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(ln)["step"] for ln in lines] == [1, 2]
        assert (sweep / str(num) / "summary.json").is_file()
    assert "sweep" in proc.stdout and "failed" in proc.stdout  # the table


@pytest.mark.slow
def test_wandb_offline_run_has_config_tags_metrics_samples_and_eval(wandb_sweep):
    sweep, _ = wandb_sweep
    job = sweep / "0"
    run = read_offline_run(_offline_run_file(job))
    assert run["exit_code"] == 0
    assert {"seed=1", "logger=wandb", "train.rl_steps=2"} <= set(run["tags"])
    assert run["config"]["train"]["rl_steps"] == 2 and run["config"]["seed"] == 1

    rl = [h for h in run["history"] if "rl/entropy_mean" in h]
    records = [json.loads(ln) for ln in (job / "metrics.jsonl").read_text().splitlines()]
    assert [h["rl/step"] for h in rl] == [r["step"] for r in records] == [1, 2]
    assert "reward_mean" in records[0]  # step 1 generates the rollout that step 2 reuses
    for h, rec in zip(rl, records):  # the same per-step record as metrics.jsonl
        for key in ("reward_mean", "reward_std", "entropy_mean", "clip_frac", "completion_length_mean",
                    "diag/kl_old"):
            assert (f"rl/{key}" in h) == (key in rec), key
            if key in rec:
                assert h[f"rl/{key}"] == pytest.approx(rec[key]), key
        # Same record-building code; each callback times the step itself (microseconds apart).
        assert h["rl/step_seconds"] == pytest.approx(rec["step_seconds"], rel=0.05)
    assert any("sft/loss" in h for h in run["history"])

    tables = [h for h in run["history"] if h.get("rl/samples/_type") == "table-file"]
    assert [h["rl/step"] for h in tables] == [1]  # sample_every_steps=1: every rollout (one per two steps)
    table = json.loads((_offline_run_file(job).parent / "files" / tables[0]["rl/samples/path"]).read_text())
    assert table["columns"] == ["step", "src", "hypothesis", "ref", "reward"] and len(table["data"]) == 4
    train_srcs = {json.loads(ln)["src"] for ln in (job / "data" / "train.jsonl").read_text().splitlines()}
    assert all(row[1] in train_srcs and 0.0 <= row[4] <= 1.0 for row in table["data"])

    summary = json.loads((job / "summary.json").read_text())
    assert run["summary"]["eval/chrf_rl"] == pytest.approx(summary["chrf_rl"])
    # The job that crashed still closed its W&B run, marked as failed.
    assert read_offline_run(_offline_run_file(sweep / "1"))["exit_code"] == 1


@pytest.mark.slow
def test_wandb_failure_does_not_stop_training(wandb_sweep):
    sweep, _ = wandb_sweep
    job = sweep / "2"
    assert (job / "wandb").is_file()  # W&B never got a directory: its init failed
    lines = [json.loads(ln) for ln in (job / "metrics.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in lines] == [1, 2] and "reward_mean" in lines[0]  # step 1 generates
    log = (job / "train.log").read_text()
    assert log.count("W&B init failed") == 1 and "metrics.jsonl continues" in log
    assert json.loads((job / "summary.json").read_text())["rl_steps_logged"] == 2


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("VEPO_TEST_LAUNCHERS"), reason="set VEPO_TEST_LAUNCHERS=1 (about a minute)")
def test_joblib_sweep_records_outcomes_from_worker_processes(tmp_path):
    not_a_model = tmp_path / "empty_model"
    not_a_model.mkdir()
    sweep = tmp_path / "sweep"
    proc = run_vepo("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                    f"model.path=null,{not_a_model}", "train.sft_steps=0", "train.rl_steps=0",
                    "train.evaluate_at_end=false", "data.n_train=32", "data.n_dev=4", "data.n_devtest=4",
                    "model.tiny.vocab_size=400", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 1, proc.stderr[-3000:]
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary["launcher"].endswith("JoblibLauncher")
    assert [(j["num"], j["status"]) for j in summary["jobs"]] == [(0, "ok"), (1, "failed")]
    assert "is not a model checkpoint" in summary["jobs"][1]["error"]
    assert not (sweep / "1" / "error.log").exists()  # a user error is its one line, no traceback
    assert (sweep / "0" / "checkpoint" / "model.safetensors").is_file()
