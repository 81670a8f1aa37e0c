"""Which directory a command may write: one run per directory, and a resume continues the same run.

- `vepo train` into a directory that holds a run (finished or not) is refused unless it resumes; a resume whose
  settings would change what was trained or evaluated (against the run's `config.yaml`) is refused, naming the keys.
- `vepo eval` never writes into a train run (its summary.json and results/ would be replaced); rerunning into an
  eval directory resumes it, refused when the settings would change the generated or scored text (against the
  directory's `eval_config.yaml`, or Hydra's `.hydra/config.yaml` in older ones).
- Before Hydra writes anything, a directory another process holds is refused (vepo.utils.run_dir).

The `guard_*` functions run before Hydra starts; `check_*` run again inside the job, under the directory's lock.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vepo.config.runinfo import EVAL_CONFIG, config_differences, describe_differences, run_kind
from vepo.config.schema import EvalConfig, TrainConfig
from vepo.errors import VepoError
from vepo.utils.run_dir import refuse_if_locked

# What a resumed run may change: how far RL goes, how often it saves, what it evaluates at the end, where and how fast
# it runs, and how it logs. Every other key changes the trained weights or the text the stage evaluations generate and
# score (rollout.name too: vLLM rollouts add importance weights to the loss), so changing one would mix two
# experiments in one run directory.
TRAIN_RESUME_MAY_CHANGE = (
    "resume", "train.rl_steps", "train.save_steps", "train.save_total_limit", "train.evaluate_after_sft",
    "train.evaluate_at_end", "train.eval_suite", "logger", "hardware", "reward.device",
    "rollout.vllm_gpu_memory_utilization", "rollout.server_host", "rollout.server_port", "rollout.compile",
    "eval.batch_size", "eval.engine", "eval.length_sorted", "eval.wave_segments", "eval.comet_batch_size",
    "eval.comet_device", "data.flores_dir", "model.trust_remote_code",
)

# What a rerun into an eval directory may change: which directions (finished ones are kept, new ones added), where
# the output goes, and batch sizes, engine and hardware. Model, data, split, segment count, prompt, generation and
# metric settings decide the text and scores of every direction.
EVAL_RESUME_MAY_CHANGE = (
    "output_dir", "hardware", "suite.name", "suite.langs", "suite.directions", "suite.pivot", "suite.both_ways",
    "eval.batch_size", "eval.engine", "eval.length_sorted", "eval.wave_segments", "eval.comet_batch_size",
    "eval.comet_device", "data.flores_dir", "model.trust_remote_code",
)


def _saved(path: Path, schema: type) -> dict:
    """A saved config on the current schema (keys added since it was written take their defaults)."""
    try:
        saved = OmegaConf.load(path)
    except (OmegaConfBaseException, ValueError, OSError):
        return {}  # unreadable: nothing to compare against
    if not isinstance(saved, DictConfig):
        return {}
    try:
        return OmegaConf.to_container(OmegaConf.merge(OmegaConf.structured(schema), saved))
    except (OmegaConfBaseException, ValueError):
        return OmegaConf.to_container(saved)  # written by another vepo version: compare what is there


def _as_dict(cfg: object) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(cfg))


# --- vepo train ------------------------------------------------------------------------------------------------------

def check_train_dir(cfg: TrainConfig, run_dir: Path, key: str = "hydra.run.dir") -> None:
    """Refuse to train into `run_dir` when it holds eval results, or a run and this is not a resume, or a run this
    resume would continue with settings that change what it trains or evaluates."""
    kind = run_kind(run_dir) if run_dir.is_dir() else None
    if kind == "eval":
        raise VepoError(f"{key}={run_dir} holds vepo eval results, not a train run; choose another {key}")
    if kind is None:
        return
    if cfg.resume is None:
        raise VepoError(f"{key}={run_dir} already holds a vepo train run; pass resume={run_dir} (or resume=auto) to "
                        f"continue it, or choose another {key}")
    config_file = run_dir / "config.yaml"
    saved = _saved(config_file, TrainConfig) if config_file.is_file() else {}
    differences = config_differences(saved, _as_dict(cfg), TRAIN_RESUME_MAY_CHANGE) if saved else []
    if differences:
        replay = f" (resume={run_dir} replays the run's own overrides)" if cfg.resume == "auto" else ""
        raise VepoError(f"resume={cfg.resume}: {describe_differences(differences)} differ from {config_file}; a "
                        f"resume continues the same run (only train.rl_steps and checkpoint, logging, hardware and "
                        f"evaluation-speed settings may change): start a new run in another {key} instead{replay}")


def check_train_sweep(cfg: TrainConfig, sweep_dir: Path) -> None:
    """Multirun into an existing sweep directory: its jobs' runs are continued only with resume=auto."""
    if cfg.resume is not None or not sweep_dir.is_dir():
        return
    taken = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir() and run_kind(p) is not None)
    if taken:
        more = ", ..." if len(taken) > 4 else ""
        raise VepoError(f"hydra.sweep.dir={sweep_dir} already holds runs ({', '.join(taken[:4])}{more}); pass "
                        f"resume=auto to continue them, or choose another hydra.sweep.dir")


def guard_train_dirs(cfg: TrainConfig, where: Path, multirun: bool) -> list[Path]:
    """`vepo train`, before Hydra writes anything: `where` is the run directory (the sweep directory with -m).
    Returns the directories the job writes."""
    if multirun:
        check_train_sweep(cfg, where)
        return []
    refuse_if_locked(where)
    check_train_dir(cfg, where)
    return [where]


# --- vepo eval -------------------------------------------------------------------------------------------------------

def eval_out_dir(cfg: EvalConfig, run_dir: Path) -> tuple[Path, str]:
    """Where `vepo eval` writes, and the key that chose it."""
    if cfg.output_dir:
        return Path(cfg.output_dir).expanduser(), "output_dir"
    return run_dir, "hydra.run.dir"


def check_eval_dir(cfg: EvalConfig, out_dir: Path, key: str = "output_dir") -> None:
    """Refuse to evaluate into a train run, or to resume an eval directory with settings that change what its
    finished directions generated or scored."""
    kind = run_kind(out_dir) if out_dir.is_dir() else None
    if kind == "train":
        raise VepoError(f"{key}={out_dir} is a vepo train run: vepo eval would replace its summary.json and results; "
                        f"evaluate into {out_dir / 'eval'} (read by vepo compare as the run's suite results) or "
                        f"another directory")
    if out_dir.name == "eval" and run_kind(out_dir.parent) == "train":
        refuse_if_locked(out_dir.parent)  # the run is still training: its own suite evaluation writes here
    if kind is None:
        return
    saved_file = next((p for p in (out_dir / EVAL_CONFIG, out_dir / ".hydra" / "config.yaml") if p.is_file()), None)
    saved = _saved(saved_file, EvalConfig) if saved_file else {}
    differences = config_differences(saved, _as_dict(cfg), EVAL_RESUME_MAY_CHANGE) if saved else []
    if differences:
        raise VepoError(f"{key}={out_dir} holds results made with other settings ({describe_differences(differences)}"
                        f", see {saved_file}); a rerun there resumes it and must generate and score the same way: "
                        f"use another {key}")


def guard_eval_dirs(cfg: EvalConfig, where: Path, multirun: bool) -> list[Path]:
    """`vepo eval`, before Hydra writes anything. Returns the directories the job writes."""
    if multirun:
        return []
    out_dir, key = eval_out_dir(cfg, where)
    out_dir = out_dir.absolute()
    refuse_if_locked(out_dir)
    check_eval_dir(cfg, out_dir, key)
    return [where] if out_dir == where else [where, out_dir]
