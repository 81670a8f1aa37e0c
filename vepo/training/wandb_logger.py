"""Weights & Biases logging for `vepo train` (logger=wandb), owned by vepo rather than by TRL's report_to.

One `WandbSession` per run: the resolved config, tags from the command-line overrides, per-step metrics (the same
records as metrics.jsonl), tables of sample translations during RL and the stage evaluations at the end. W&B is an
extra: any exception from it is logged once as a warning, the session disables itself, and training goes on with
metrics.jsonl alone. An online run whose server does not answer within `logger.init_timeout` seconds logs offline
instead (wandb itself would wait without limit).
"""

from __future__ import annotations

import logging
import netrc
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import yaml

from vepo.config.schema import LoggerConfig, TrainConfig
from vepo.training.callbacks import StepRecordCallback
from vepo.utils.network import unreachable_reason

log = logging.getLogger("vepo")

_MAX_TAG = 64  # W&B rejects longer tags


def wandb_server() -> str:
    return os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")


def has_wandb_key() -> bool:
    """A key is configured: $WANDB_API_KEY, or a netrc entry for the W&B host (what `wandb login` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(wandb_server()).hostname or "api.wandb.ai"
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(mode: str) -> str:
    """auto: $WANDB_MODE when set, else online with a key and offline without one."""
    if mode != "auto":
        return mode
    return os.environ.get("WANDB_MODE") or ("online" if has_wandb_key() else "offline")


def override_tags(run_dir: Path, extra: list[str]) -> list[str]:
    """The run's command-line overrides (Hydra's `.hydra/overrides.yaml`) plus the configured tags, as W&B tags."""
    path = run_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(path.read_text()) if path.is_file() else []
    tags = [str(t)[:_MAX_TAG] for t in [*(overrides or []), *extra]]
    return list(dict.fromkeys(t for t in tags if t))


def sweep_group() -> str | None:
    """In a Hydra multirun, the sweep directory (its last two parts) groups the jobs' W&B runs."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            return "/".join(Path(str(HydraConfig.get().sweep.dir)).parts[-2:])
    except Exception:  # no Hydra job (library use, worker ranks): no group
        pass
    return None


class WandbSession:
    """A W&B run for one `vepo train` run; every call is a no-op once disabled (logger=none, rank > 0, failure)."""

    def __init__(self, cfg: LoggerConfig) -> None:
        self.cfg = cfg
        self.run = None
        self._wandb = None
        self._pending_samples: dict[int, list[list[Any]]] = {}
        self._last_sample_step: int | None = None  # the optimiser step of the last sample table

    @property
    def active(self) -> bool:
        return self.run is not None

    def start(self, train_cfg: TrainConfig, run_dir: Path) -> "WandbSession":
        # Worker ranks of a multi-process run must not open runs of their own.
        if self.cfg.name != "wandb" or os.environ.get("RANK", "0") != "0":
            return self
        mode = resolve_mode(self.cfg.mode)
        if mode == "online" and self.cfg.init_timeout > 0:
            reason = unreachable_reason(wandb_server(), self.cfg.init_timeout)
            if reason is not None:
                log.warning("W&B server %s is not reachable (%s; logger.init_timeout=%g): logging offline to "
                            "%s, upload later with `wandb sync`", wandb_server(), reason, self.cfg.init_timeout,
                            run_dir / "wandb")
                mode = "offline"
        os.environ.setdefault("WANDB_SILENT", "true")
        self._guard("init", lambda: self._init(train_cfg, run_dir, mode))
        if self.active:
            log.info("W&B: %s run %s (%s)", mode, self.run.name, self.run.dir)
        return self

    def _init(self, train_cfg: TrainConfig, run_dir: Path, mode: str) -> None:
        import wandb

        self._wandb = wandb
        (run_dir / "wandb").mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=self.cfg.project, entity=self.cfg.entity, group=self.cfg.group or sweep_group(),
            name="/".join(run_dir.resolve().parts[-2:]), dir=str(run_dir), mode=mode,
            config=asdict(train_cfg), tags=override_tags(run_dir, list(self.cfg.tags)),
            reinit="finish_previous",  # a previous job of a basic-launcher sweep may have left its run open
            settings=wandb.Settings(console="off", silent=True),
        )
        # Each stage counts its own optimiser steps.
        for stage in ("sft", "rl"):
            self.run.define_metric(f"{stage}/step")
            self.run.define_metric(f"{stage}/*", step_metric=f"{stage}/step")

    def _guard(self, what: str, fn: Callable[[], Any]) -> None:
        """Run a W&B call; on any exception warn once and disable the session (training must not stop)."""
        if what != "init" and not self.active:
            return
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - W&B may fail in any way; metrics.jsonl stays authoritative
            log.warning("W&B %s failed (%s: %s); W&B logging is off for this run, metrics.jsonl continues",
                        what, type(exc).__name__, exc)
            self.run = None

    def callback(self, stage: str) -> list[StepRecordCallback]:
        """The trainer callbacks of a stage (none when inactive)."""
        return [WandbMetricsCallback(self, stage)] if self.active else []

    def log_step(self, stage: str, record: dict) -> None:
        data = {f"{stage}/{k}": v for k, v in record.items() if k != "stage" and v is not None}
        rows = self._pending_samples.pop(record["step"], None) if stage == "rl" else None
        if rows:
            data["rl/samples"] = self._wandb.Table(columns=["step", "src", "hypothesis", "ref", "reward"], data=rows)
        self._guard("log", lambda: self.run.log(data))

    def observe_rewards(self, step: int, sources, hypotheses, references, rewards) -> None:
        """A reward-mix observer: keeps a few (src, hypothesis, ref, reward) rows of the rollout that optimiser step
        `step + 1` trains on, for that step's log: at step 1, then at the first rollout at least `sample_every_steps`
        steps after the last table (rollouts come every train.steps_per_generation × num_iterations steps)."""
        every, k, target = self.cfg.sample_every_steps, self.cfg.num_samples, step + 1
        if not self.active or every <= 0 or k <= 0 or target in self._pending_samples:
            return
        if self._last_sample_step is None or target - self._last_sample_step >= every:
            self._last_sample_step = target
            self._guard("samples", lambda: self._keep_samples(target, sources, hypotheses, references, rewards))

    def _keep_samples(self, target: int, sources, hypotheses, references, rewards) -> None:
        n, k = len(hypotheses), self.cfg.num_samples
        stride = max(1, n // k)  # spread over the prompt groups (generations of one prompt are adjacent)
        self._pending_samples[target] = [[target, sources[i], hypotheses[i], references[i], float(rewards[i])]
                                         for i in range(0, n, stride)[:k]]

    def log_summary(self, summary: dict, suite_summary: dict | None = None) -> None:
        """Stage evaluations (chrF++ after SFT/RL, reward trend) and the end-of-training suite into the run summary."""
        values = {f"eval/{k}": v for k, v in summary.items() if isinstance(v, (int, float, str)) and v is not None}
        if suite_summary:
            values["eval/suite"] = suite_summary
        self._guard("summary", lambda: self.run.summary.update(values))

    def finish(self, failed: bool = False) -> None:
        self._pending_samples.clear()
        self._guard("finish", lambda: self.run.finish(exit_code=1 if failed else 0))
        self.run = None


class WandbMetricsCallback(StepRecordCallback):
    """Sends each step's metrics.jsonl record to W&B as `<stage>/<key>`."""

    def __init__(self, session: WandbSession, stage: str) -> None:
        super().__init__(stage)
        self.session = session

    def write(self, record: dict) -> None:
        self.session.log_step(self.stage, record)
