"""Runs that go wrong stop and say why, and a long run shows a progress bar instead of raw log dicts.

A diverging run (NaN gradient norm) stops with one line and exit code 2, keeping its last good checkpoint; W&B
falls back to offline when its server hangs or refuses; a Hub id that is neither cached nor downloadable is one line
without minutes of retries (a cached one is used offline); a damaged checkpoint is one line; `vepo eval` warns about
empty hypotheses. One smoke-size subprocess run (the NaN one, which also shows the console) and one CLI start (the
Hub id); everything else in-process, with no network: every server is a local socket.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tests.conftest import SMOKE_OVERRIDES, run_vepo
from vepo.errors import VepoError


def _closed_port_url() -> str:
    """An http URL on which nothing listens (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_server():
    """An http URL whose server accepts connections and never answers (what makes wandb hang)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()
    for conn in held:
        conn.close()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# --- NaN: the run stops, says why, keeps the last good checkpoint; and what the console shows ------------------------

def test_a_diverging_run_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    """The issue's example: train.rl_lr=1e4 makes the gradient norm NaN at step 2 of the embedded run."""
    run_dir = tmp_path / "run"
    proc = run_vepo("train", *SMOKE_OVERRIDES, "train.rl_lr=1e4", "train.save_steps=1", "train.log_table_every=1",
                    f"hydra.run.dir={run_dir}", timeout=900)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = _error_lines(proc.stderr)
    good = run_dir / "trainer" / "rl" / "checkpoint-1"
    assert line.startswith("error: RL stopped at step 2/2: the gradient norm became non-finite (nan)"), line
    assert f"the last good model is {good}" in line and "train.rl_lr=10000" in line
    assert "Traceback" not in proc.stderr
    # Nothing of the diverged step was saved: no checkpoint-2, no final model; the step-1 checkpoint is finite.
    assert sorted(p.name for p in good.parent.glob("checkpoint-*")) == ["checkpoint-1"]
    assert not (run_dir / "checkpoint").exists() and not (run_dir / "summary.json").exists()
    from safetensors.torch import load_file

    assert all(torch.isfinite(t).all() for t in load_file(good / "model.safetensors").values())
    steps = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [1, 2] and steps[1]["grad_norm"] is None
    # The console: a bar and a table per stage, none of transformers' printed log dicts.
    out = proc.stdout
    assert not [x for x in (out + proc.stderr).splitlines() if x.lstrip().startswith("{'")]
    for stage in ("SFT", "RL"):
        assert f"{stage} · steps 1–1 of 2" in out and f"{stage} ━" in out
    assert "2/2" in out and "reward" in out and "chrF++" in out and "grad norm" in out
    assert "rl step 2/2 | " in (run_dir / "train.log").read_text()  # every step in the log file


def _state(max_steps: int):
    from transformers import TrainerState

    return TrainerState(max_steps=max_steps, is_world_process_zero=True)


def test_the_guard_stops_on_a_non_finite_loss_or_weights_and_cancels_that_steps_checkpoint(tmp_path):
    from transformers import TrainerControl

    from vepo.training.finite_guard import FiniteGuardCallback, TrainingDiverged

    guard = FiniteGuardCallback("sft", "train.sft_lr", 3e-3, last_good=tmp_path / "models" / "init")
    state, control = _state(10), TrainerControl()
    state.global_step = 3
    guard.on_log(None, state, control, logs={"loss": 1.5, "grad_norm": 2.0})
    model = torch.nn.Linear(2, 2)
    guard.on_step_end(None, state, control, model=model)
    assert guard.divergence is None and not control.should_training_stop
    with torch.no_grad():
        model.weight[0, 0] = float("inf")
    control.should_save = True  # the step would have saved a checkpoint
    state.global_step = 4
    guard.on_step_end(None, state, control, model=model)
    assert control.should_training_stop and not control.should_save
    guard.on_log(None, state, control, logs={"loss": float("nan"), "grad_norm": float("nan")})  # names the cause
    with pytest.raises(TrainingDiverged) as err:
        guard.raise_if_diverged(10, tmp_path / "trainer" / "sft")
    assert str(err.value) == (
        f"SFT stopped at step 4/10: the loss became non-finite (nan), so nothing from this step was saved; the last "
        f"good model is {tmp_path / 'models' / 'init'}. Lower the learning rate (train.sft_lr=0.003) or "
        f"train.max_grad_norm and run again")
    assert err.value.exit_code == 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_weights_finite_sees_one_bad_number_anywhere(dtype):
    from vepo.training.finite_guard import weights_finite

    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 3)).to(dtype)
    with torch.no_grad():
        model[0].weight.fill_(1e30)  # large but finite (the fp32 sum, 4e33, too)
    assert weights_finite(model)
    for bad in ([float("nan")], [float("inf")], [float("inf"), float("-inf")]):  # +inf and -inf together: a NaN sum
        probe = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 3)).to(dtype)
        with torch.no_grad():
            for i, value in enumerate(bad):
                probe[1].weight[i, 5] = value
        assert not weights_finite(probe), bad


def test_the_console_shows_a_bar_with_the_watched_numbers_and_a_table_every_n_steps():
    from rich.console import Console

    from vepo.training.progress import ConsoleProgressCallback

    buffer = io.StringIO()
    callback = ConsoleProgressCallback("rl", table_every=2, out=Console(file=buffer, width=80))
    args = SimpleNamespace(gradient_accumulation_steps=1, steps_per_generation=1, num_iterations=1)
    state, control = _state(4), None
    callback.on_train_begin(args, state, control)
    for step in range(1, 5):
        callback.on_step_begin(args, state, control)
        state.global_step = step
        callback.on_step_end(args, state, control)
        logs = {"loss": 0.1 * step, "grad_norm": 1.0, "reward": 0.2 * step, "reward/chrf/mean": 0.3, "entropy": 2.0,
                "objective/clip_frac": 0.05, "objective/kl": 0.01, **{f"diag/x{i}": 0.0 for i in range(60)}}
        callback.on_log(args, state, control, logs=logs)
    callback.on_train_end(args, state, control)
    text = buffer.getvalue()
    assert "RL · steps 1–2 of 4" in text and "RL · steps 3–4 of 4" in text
    assert "reward 0.800  chrF++ 30.0  entropy 2.000  clip 5.0%  KL 0.0100" in text  # the bar's line
    assert "4/4" in text and "diag" not in text and "{" not in text
    table = text[text.index("RL · steps 3–4 of 4"):]
    assert "reward" in table and "0.700" in table and "+0.400" in table  # mean of steps 3–4 and Δ since 1–2


# --- W&B without a reachable server -----------------------------------------------------------------------------------

@pytest.mark.parametrize("server", ["silent", "refused"])
def test_wandb_falls_back_to_offline_when_the_server_hangs_or_refuses(server, silent_server, tmp_path, monkeypatch,
                                                                      caplog):
    from vepo.config.schema import LoggerConfig, TrainConfig
    from vepo.training.wandb_logger import WandbSession

    url = silent_server if server == "silent" else _closed_port_url()
    for key in ("CONFIG", "CACHE", "DATA"):
        monkeypatch.setenv(f"WANDB_{key}_DIR", str(tmp_path / key.lower()))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)  # a key: auto mode means online
    monkeypatch.setenv("WANDB_BASE_URL", url)
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="vepo"):
        session = WandbSession(LoggerConfig(name="wandb", init_timeout=1.0)).start(TrainConfig(), run_dir)
    try:
        assert session.active and session.run.settings.mode == "offline"
        session.log_step("rl", {"step": 1, "stage": "rl", "reward_mean": 0.5})
    finally:
        session.finish()
    (warning,) = [r.getMessage() for r in caplog.records if "W&B" in r.getMessage()]
    reason = "no answer within 1 s" if server == "silent" else "ConnectionRefusedError"
    assert warning.startswith(f"W&B server {url} is not reachable ({reason}") and "logging offline" in warning
    assert len(list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))) == 1


# --- Hub ids and damaged checkpoints ----------------------------------------------------------------------------------

@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """This process as if online (no HF_HUB_OFFLINE), with an empty cache of its own and a Hub that refuses."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", _closed_port_url())
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return tmp_path / "hub"


def test_a_hub_id_that_is_not_cached_and_not_reachable_is_one_line_without_retries(hub_env, tmp_path, capsys):
    """`vepo train model=<group option naming a Hub id>` without HF_HUB_OFFLINE and a Hub that refuses connections:
    before, about 70 s of retries and an OSError traceback. Refused before the job starts: no run directory."""
    from vepo.cli import train as train_cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        train_cli.run(["model=qwen2.5-0.5b-instruct", f"hydra.run.dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    (line,) = _error_lines(err)
    assert line.startswith("error: model 'Qwen/Qwen2.5-0.5B-Instruct' is not in the Hugging Face cache and the Hub "
                           "(http://127.0.0.1:") and "is not reachable: ConnectionRefusedError" in line
    assert "`hf download Qwen/Qwen2.5-0.5B-Instruct`" in line and "HF_HOME" in line and "model.path=" in line
    assert "Retrying" not in err and "Traceback" not in err and not (tmp_path / "run").exists()


def test_a_hub_id_offline_is_one_line_naming_the_download(hub_env, monkeypatch):
    from huggingface_hub import constants

    from vepo.models.paths import check_model_path

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(VepoError) as err:
        check_model_path("org/name")
    assert str(err.value) == (
        f"model 'org/name' is not in the Hugging Face cache and HF_HUB_OFFLINE is set; download it once with "
        f"`hf download org/name` (on a machine with network, then copy the cache here and point HF_HOME at it; "
        f"cache now: {hub_env}), or pass model.path=<local checkpoint directory>")


def _cache_model(cache: Path, repo_id: str, model_dir: Path) -> None:
    """The Hugging Face cache layout holding `model_dir`'s files as `repo_id`."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    shutil.copytree(model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_a_cached_hub_id_is_used_offline_when_the_hub_does_not_answer(hub_env, tiny_policy, caplog):
    from huggingface_hub import constants

    from vepo.models.loading import load_model, load_tokenizer

    _cache_model(hub_env, "vepo-test/tiny", tiny_policy[0])
    with caplog.at_level(logging.WARNING, logger="vepo"):
        tokenizer = load_tokenizer("vepo-test/tiny")
        model = load_model("vepo-test/tiny")
    assert constants.HF_HUB_OFFLINE and model.config.vocab_size >= len(tokenizer) > 0
    (warning,) = [r.getMessage() for r in caplog.records if "Hub" in r.getMessage()]
    assert warning.startswith("the Hugging Face Hub is not reachable (ConnectionRefusedError")


@pytest.mark.parametrize("damage", ["config", "weights"])
def test_a_damaged_checkpoint_is_one_line(damage, tiny_policy, tmp_path):
    from vepo.models.loading import load_model
    from vepo.models.paths import check_model_path

    model_dir = Path(shutil.copytree(tiny_policy[0], tmp_path / "model"))
    if damage == "config":
        (model_dir / "config.json").write_text('{"model_type": "qwen2", ')
        expected = f"{model_dir / 'config.json'} is not valid JSON (Expecting property name"
    else:
        weights = model_dir / "model.safetensors"
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
        expected = f"{weights} is truncated ({len(data) // 2} of {len(data)} bytes)"
    for call in (check_model_path, load_model):
        with pytest.raises(VepoError) as err:
            call(str(model_dir))
        assert str(err.value).startswith(expected) and "save or download it again" in str(err.value)


def test_comet_offline_says_a_download_is_needed(hub_env):
    from vepo.models.comet.scorer import CometScorer

    with pytest.raises(VepoError) as err:
        CometScorer("vepo-test/no-such-comet")
    msg = str(err.value)
    assert msg.startswith("COMET model 'vepo-test/no-such-comet' needs a download (it is not in the Hugging Face "
                          "cache) and the Hub (http://127.0.0.1:")
    assert "`hf download vepo-test/no-such-comet`" in msg and "not supported" not in msg and "\n" not in msg


# --- vepo eval: empty hypotheses --------------------------------------------------------------------------------------

def test_eval_warns_once_when_a_directions_hypotheses_are_empty(flores_dir, tmp_path, caplog):
    from vepo.config.schema import EvalSettings, ModelConfig, PromptConfig
    from vepo.data.flores import open_flores
    from vepo.evaluation.runner import EvalContext, run_translation_suite
    from vepo.evaluation.suites import Direction
    from tests.conftest import FLORES_LINES

    hyps = tmp_path / "hyps"
    hyps.mkdir()
    english = (flores_dir / "devtest" / "eng_Latn.devtest").read_text(encoding="utf-8").splitlines()
    (hyps / "eng_Latn-bod_Tibt.txt").write_text("\n" * FLORES_LINES, encoding="utf-8")  # all empty
    (hyps / "eng_Latn-kaz_Cyrl.txt").write_text("".join(e + "\n" for e in english), encoding="utf-8")
    ctx = EvalContext(flores=open_flores(flores_dir), settings=EvalSettings(spbleu=False), out_dir=tmp_path / "out",
                      model_label="hyps", extra={})
    with caplog.at_level(logging.WARNING, logger="vepo"):
        run_translation_suite([Direction("eng_Latn", "bod_Tibt"), Direction("eng_Latn", "kaz_Cyrl")], ctx, "t",
                              model_path=None, model_cfg=ModelConfig(), prompt_cfg=PromptConfig(), device="cpu",
                              hyps_dir=str(hyps))
    (warning,) = [r.getMessage() for r in caplog.records if "empty" in r.getMessage()]
    assert warning.startswith(f"{FLORES_LINES} of {FLORES_LINES} hypotheses are empty in 1 of 2 direction(s) "
                              f"(eng_Latn-bod_Tibt {FLORES_LINES}/{FLORES_LINES})")


def test_stage_evaluation_inside_train_warns_when_the_model_stops_translating(flores_dir, tiny_policy, caplog,
                                                                             monkeypatch):
    """The after-SFT / after-RL evaluation of `vepo train` says so when a stage's model answers with nothing (a
    broken checkpoint, a prompt the model ends at once): its chrF++ alone would only read 0."""
    from vepo.config.schema import TrainConfig
    from vepo.data.flores import open_flores
    from vepo.data.prompts import PromptBuilder
    from vepo.evaluation import stage_eval

    class SilentEngine:  # a policy that emits EOS at once: every hypothesis empty
        name = "hf"

        def generate(self, prompts):
            return ["" for _ in prompts]

    monkeypatch.setattr(stage_eval, "build_engine", lambda *a, **k: (SilentEngine(), None))
    cfg = TrainConfig()
    cfg.lang.src, cfg.lang.tgt, cfg.eval.spbleu = "eng_Latn", "bod_Tibt", False
    model_dir, _ = tiny_policy
    with caplog.at_level(logging.WARNING, logger="vepo"):
        record = stage_eval.evaluate_stage(model_dir, open_flores(flores_dir), cfg, PromptBuilder(cfg.prompt),
                                           ("English", "Tibetan"), {"stage": "rl"})
    assert record["hypotheses"] and not any(record["hypotheses"])
    (warning,) = [r.getMessage() for r in caplog.records if "empty" in r.getMessage()]
    assert warning.startswith("rl evaluation: ") and "eng_Latn-bod_Tibt" in warning
