"""Command-line shorthands: `model=<HF id or path>` and `lang=<FLORES code>` for values that are not config-group
options. `model=Qwen/Qwen2.5-0.5B` becomes `model.path=Qwen/Qwen2.5-0.5B`; `lang=bod_Tibt` becomes
`lang.tgt=bod_Tibt`; sweeps (`lang=bod_Tibt,uig_Arab`) too. Group options (`model=tiny`, `lang=toy_Tibt`) stay.
A `model=` value counts as a path only when it looks like one: an existing file or directory, or a value with a `/`
(an HF id `org/name`, `./ckpt`). Anything else (`model=qwen2.5-0.5b-instuct`) stays a group override, so Hydra's
unknown-option error lists the options (with the near miss, vepo/config/validate.py) instead of the run failing
later on a model id that does not exist; an HF id without an organisation still works as `model.path=<id>`.

`algo.params.<key>=<value>` becomes `++algo.params.<key>=<value>`: conf/algo/*.yaml list only the params that differ
from the objective's code defaults, so most keys are absent from the composed config and Hydra would otherwise demand
a `+`. The objective's constructor still rejects unknown keys (check_train_config).

`resume=<run dir>` (vepo train) replays the run's own overrides (`<run>/.hydra/overrides.yaml`), then the new
command line's (which win on the same key, e.g. more `train.rl_steps`), with `hydra.run.dir` pointing at the run,
so the job continues where it stopped. `resume=auto` needs no rewriting: the job resumes if its run directory
already holds checkpoints."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from vepo.config.paths import config_dir
from vepo.errors import VepoError

SHORTHANDS = {"model": "model.path", "lang": "lang.tgt"}
_PATTERN = re.compile(r"^(model|lang)=(.+)$")
_ALGO_PARAM = re.compile(r"^algo\.params\.[^=]+=")


def _options(group: str) -> set[str]:
    return {p.stem for p in (config_dir() / group).glob("*.yaml")}


def _path_like(value: str) -> bool:
    """An existing path, or a value with a `/`: an HF id (org/name) or a path to come."""
    return "/" in value or "\\" in value or Path(value).expanduser().exists()


def expand_shorthands(args: list[str]) -> list[str]:
    out = []
    for arg in args:
        match = _PATTERN.match(arg)
        if match:
            group, value = match.groups()
            options = _options(group)
            values = value.split(",")
            typo = group == "model" and not all(_path_like(v) for v in values)
            if not any(v in options for v in values) and not typo:
                arg = f"{SHORTHANDS[group]}={value}"
        elif _ALGO_PARAM.match(arg):
            arg = "++" + arg
        out.append(arg)
    return out


AUTO = "auto"


def _override_key(override: str) -> str:
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
    given = {_override_key(a) for a in args if "=" in a}
    original = [o for o in yaml.safe_load(overrides_file.read_text()) or []
                if _override_key(o) not in given and not _override_key(o).startswith("hydra.") and _override_key(o) != "resume"]
    return [*original, *args, f"hydra.run.dir={run_dir.resolve()}"]
