"""From the `runs=[...]` arguments to one directory per system.

A directory is one of:
- a training run (`vepo train`): `eval/results/<src>-<tgt>.json` when a suite ran, else `results/rl.json` or
  `results/sft.json` (the stage evaluations on the training pair);
- an evaluation output directory (`vepo eval`): `results/<src>-<tgt>.json`;
- a retention evaluation (`vepo eval suite=retention`): `results/retention.json`, its system being the evaluated
  model with its translations `translations/model/results/<src>-<tgt>.json` (the reference's stay out);
- a Hydra multirun directory (`multirun.yaml` + numbered job directories), which expands to its jobs.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from vepo.errors import VepoError

_DIRECTION_FILE = re.compile(r"^[^-./]+-[^-./]+\.json$")
STAGE_FILES = ("rl.json", "sft.json")  # preference order: the RL result is the run's score when both exist


@dataclass(frozen=True)
class SystemDir:
    path: Path  # resolved
    kind: str  # "train" | "eval"
    result_files: tuple[Path, ...]
    origin: str  # the argument it came from (a multirun directory for its jobs)


def direction_files(folder: Path) -> list[Path]:
    """`<src>-<tgt>.json` files of a results folder, sorted."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and _DIRECTION_FILE.match(p.name))


def is_multirun(path: Path) -> bool:
    return (path / "multirun.yaml").is_file()


def multirun_jobs(path: Path) -> list[Path]:
    """Numbered job directories of a Hydra sweep, in job order."""
    return sorted((p for p in path.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def system_dir(path: Path, origin: str) -> SystemDir:
    """Classify one system directory and list its result files; VepoError when it holds none."""
    suite = direction_files(path / "eval" / "results")
    if suite:
        return SystemDir(path, "train", tuple(suite), origin)
    stage = next((path / "results" / name for name in STAGE_FILES if (path / "results" / name).is_file()), None)
    if stage is not None:
        return SystemDir(path, "train", (stage,), origin)
    own = direction_files(path / "results") or direction_files(path)
    if not own and (path / "results.json").is_file():  # `vepo eval` before the suite runner: one direction
        own = [path / "results.json"]
    if not own and (path / "results" / "retention.json").is_file():
        own = direction_files(path / "translations" / "model" / "results")
    if own:
        return SystemDir(path, "eval", tuple(own), origin)
    raise VepoError(f"no results in '{path}': expected results/<src>-<tgt>.json (vepo eval), results/rl.json or "
                    f"results/sft.json (vepo train), eval/results/<src>-<tgt>.json (train.eval_suite) or a Hydra "
                    f"multirun directory (multirun.yaml); did the run finish?")


def _expand_argument(arg: str) -> list[Path]:
    if any(ch in arg for ch in "*?"):
        matches = sorted(Path(m) for m in glob.glob(str(Path(arg).expanduser())) if Path(m).is_dir())
        if not matches:
            raise VepoError(f"runs: the pattern '{arg}' matches no directory")
        return matches
    path = Path(arg).expanduser()
    if not path.is_dir():
        raise VepoError(f"runs: '{arg}' is not a directory (expected a run, eval or Hydra multirun directory)")
    return [path]


def discover_systems(runs: list[str], skipped: list[Path] | None = None) -> list[SystemDir]:
    """Every system directory named by `runs`, in order, multirun directories expanded; duplicates dropped.
    A directory matched by a glob pattern that holds no results (a crashed run, a compare output) is appended to
    `skipped` instead of failing; a directory named explicitly must have results."""
    if not runs:
        raise VepoError("vepo compare needs runs: pass runs=[<dir>,<dir>,...] (run, eval or Hydra multirun "
                        "directories) and optionally baseline=<dir>")
    systems: list[SystemDir] = []
    seen: set[Path] = set()
    for arg in runs:
        is_pattern = any(ch in str(arg) for ch in "*?")
        for path in _expand_argument(str(arg)):
            if is_multirun(path):
                jobs = multirun_jobs(path)
                if not jobs:
                    raise VepoError(f"Hydra multirun directory '{path}' has no job directories (0/, 1/, ...)")
                found = [system_dir(job.resolve(), str(path)) for job in jobs]
            else:
                try:
                    found = [system_dir(path.resolve(), str(arg))]
                except VepoError:
                    if not is_pattern or skipped is None:
                        raise
                    skipped.append(path)
                    continue
            for system in found:
                if system.path not in seen:
                    seen.add(system.path)
                    systems.append(system)
    if not systems:
        raise VepoError(f"no results in any directory matched by runs={list(runs)}")
    return systems


def baseline_dir(baseline: str) -> SystemDir:
    path = Path(baseline).expanduser()
    if not path.is_dir():
        raise VepoError(f"baseline: '{baseline}' is not a directory (expected one run or eval directory)")
    if is_multirun(path):
        raise VepoError(f"baseline: '{baseline}' is a Hydra multirun directory; name one of its jobs "
                        f"(e.g. {path / '0'})")
    return system_dir(path.resolve(), baseline)
