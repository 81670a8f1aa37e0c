"""Hydra multirun bookkeeping: a failing job is recorded and the sweep goes on; the sweep directory ends with
`sweep_summary.json` (and a table) listing every job's outcome.

Each job writes `<job dir>/job_status.json` itself, so the summary works the same whichever launcher ran the jobs
(basic: one process; joblib: worker processes; submitit: cluster nodes sharing the file system). A job directory
without a status file is reported as `unknown` (killed, timed out, or still running).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vepo.errors import VepoError
from vepo.utils.io import atomic_write_json

log = logging.getLogger("vepo")
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

STATUS_FILE = "job_status.json"
SUMMARY_FILE = "sweep_summary.json"
ERROR_FILE = "error.log"

# The summary of the last sweep that ended in this process: the CLI turns its failures into the exit code.
_last_sweep: list[dict] = []


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, VepoError) else f"{type(exc).__name__}: {text}"


@contextmanager
def recorded_job(run_dir: Path) -> Iterator[None]:
    """Inside a multirun job: any error is written to the job's status file and printed as one line, and the job
    returns normally so that Hydra launches the remaining jobs. Outside a multirun this does nothing."""
    if not in_multirun():
        yield
        return
    hc = HydraConfig.get()
    status = {"num": hc.job.num, "overrides": list(hc.overrides.task), "run_dir": str(run_dir), "status": "ok",
              "error": None}
    start = time.time()
    try:
        yield
    except (Exception, SystemExit) as exc:
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            raise
        status["status"], status["error"] = "failed", _one_line(exc)
        if not isinstance(exc, VepoError):  # user errors are fully described by their line; bugs need the trace
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / ERROR_FILE).write_text(traceback.format_exc())
        err_console.print(f"[bold red]error:[/] job {hc.job.num} ({escape(' '.join(status['overrides']))}) failed: "
                          f"{escape(status['error'])}", markup=True)
        log.error("job %s failed: %s", hc.job.num, status["error"])
    finally:
        status["seconds"] = round(time.time() - start, 3)
        atomic_write_json(run_dir / STATUS_FILE, status)


def _job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted({p.parent.parent for p in sweep_dir.rglob(".hydra/hydra.yaml")} - {sweep_dir})


def _job_record(job_dir: Path) -> dict:
    status_path = job_dir / STATUS_FILE
    if status_path.is_file():
        return json.loads(status_path.read_text())
    hydra_cfg = yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text()) or {}
    overrides_path = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_path.read_text()) if overrides_path.is_file() else []
    return {"num": hydra_cfg.get("hydra", {}).get("job", {}).get("num"), "overrides": overrides or [],
            "run_dir": str(job_dir), "status": "unknown", "error": "no job_status.json (killed or still running)",
            "seconds": None}


def summarize_sweep(sweep_dir: Path, launcher: str | None = None) -> dict:
    """Collect every job directory's outcome into `<sweep_dir>/sweep_summary.json`."""
    jobs = sorted((_job_record(d) for d in _job_dirs(sweep_dir)),
                  key=lambda r: (r["num"] is None, r["num"] if r["num"] is not None else 0, r["run_dir"]))
    counts = {s: sum(j["status"] == s for j in jobs) for s in ("ok", "failed", "unknown")}
    summary = {"sweep_dir": str(sweep_dir), "launcher": launcher, "n_jobs": len(jobs), **{f"n_{k}": v for k, v in
               counts.items()}, "jobs": jobs}
    atomic_write_json(sweep_dir / SUMMARY_FILE, summary)
    return summary


def print_sweep_summary(summary: dict, console: Console | None = None) -> None:
    table = Table(title=f"sweep {summary['sweep_dir']}: {summary['n_ok']} ok, {summary['n_failed']} failed"
                  + (f", {summary['n_unknown']} unknown" if summary["n_unknown"] else ""))
    for col in ("job", "status", "swept overrides", "error / run directory"):
        table.add_column(col, overflow="fold")
    styles = {"ok": "green", "failed": "bold red", "unknown": "yellow"}
    shared = set.intersection(*(set(j["overrides"]) for j in summary["jobs"])) if summary["jobs"] else set()
    for job in summary["jobs"]:
        status = job["status"]
        swept = " ".join(o for o in job["overrides"] if o not in shared)  # the overrides every job has say nothing
        table.add_row(str(job["num"]), f"[{styles[status]}]{status}[/]", escape(swept),
                      escape(job["error"] or job["run_dir"]))
    (console or Console()).print(table)


class SweepSummaryCallback(Callback):
    """Hydra callback (conf/train.yaml `hydra.callbacks`): writes and prints the sweep summary after the last job."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        summary = summarize_sweep(sweep_dir, config.hydra.launcher.get("_target_"))
        print_sweep_summary(summary)
        _last_sweep[:] = [summary]


def take_sweep_failure() -> str | None:
    """One line about the jobs that did not finish in the sweep that just ended here, or None (and forget it)."""
    summary = _last_sweep.pop() if _last_sweep else None
    if summary is None or summary["n_ok"] == summary["n_jobs"]:
        return None
    return (f"{summary['n_jobs'] - summary['n_ok']} of {summary['n_jobs']} sweep jobs did not finish; see "
            f"{Path(summary['sweep_dir']) / SUMMARY_FILE}")
