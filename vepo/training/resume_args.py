"""`vepo train resume=<run dir>`: rerun the original command line in the original run directory.

The run's own overrides (`<run>/.hydra/overrides.yaml`) are replayed, then the new command line's (which win on the
same key, e.g. more `train.rl_steps`), and `hydra.run.dir` points at the run, so the job continues where it
stopped. `resume=auto` needs no rewriting: the job resumes if its run directory already holds checkpoints."""

from __future__ import annotations

from pathlib import Path

import yaml

from vepo.errors import VepoError

AUTO = "auto"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def expand_resume(args: list[str]) -> list[str]:
    values = [a.split("=", 1)[1] for a in args if a.startswith("resume=")]
    if not values or values[-1] == AUTO:
        return args
    run_dir = Path(values[-1]).expanduser()
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    if not (run_dir / "config.yaml").is_file() or not overrides_file.is_file():
        raise VepoError(f"resume={values[-1]}: not a vepo train run directory (no config.yaml or "
                        f".hydra/overrides.yaml); pass the directory a `vepo train` run wrote")
    if any(a in ("-m", "--multirun") for a in args):
        raise VepoError("resume=<run dir> continues one run; it cannot be combined with -m")
    given = {_key(a) for a in args if "=" in a}
    original = [o for o in yaml.safe_load(overrides_file.read_text()) or []
                if _key(o) not in given and not _key(o).startswith("hydra.") and _key(o) != "resume"]
    return [*original, *args, f"hydra.run.dir={run_dir.resolve()}"]
