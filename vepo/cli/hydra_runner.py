"""Runs a Hydra task from a Typer subcommand, keeping Hydra's own flags (-m, --cfg, --info, --help, hydra.*)."""

from __future__ import annotations

import importlib
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.markup import escape

from vepo.cli.sweep import take_sweep_failure
from vepo.config.paths import config_dir
from vepo.config.store import register_schemas
from vepo.config.shorthands import expand_shorthands
from vepo.config.validate import compose_with_hydra, split_overrides, validate_overrides
from vepo.errors import VepoError
from vepo.utils.run_dir import DirBefore, remove_if_nothing_written

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_HELP_FLAGS = {"--help", "-h", "--hydra-help", "--shell-completion", "-sc"}
_NO_JOB_FLAGS = _HELP_FLAGS | {"--cfg", "-c", "--info", "-i", "--experimental-rerun"}  # Hydra prints, runs nothing
_MULTIRUN_FLAGS = {"-m", "--multirun"}
_PLAIN_PATH = re.compile(r"^[\w./-]+$")  # safe to pass back to Hydra as an override value
_NOW = re.compile(r"\$\{now:[^}]*\}")  # the only interpolation whose value is known before Hydra runs the job

# A command's check of the directories its job writes, before Hydra creates or writes any: called with the typed
# config and the run directory (the sweep directory with -m); raises VepoError to refuse, returns the directories the
# job writes (removed again if the job fails without writing anything worth keeping).
DirGuard = Callable[[object, Path, bool], list]


def fail(message: str, code: int = 2) -> None:
    """Print one line to stderr and exit: the contract for every user error."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise SystemExit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except VepoError as exc:
        fail(str(exc), exc.exit_code)


def library_task(target: str) -> Callable[[DictConfig], None]:
    """The Hydra task of a command: `target` ("module:function") is called with the typed config and the run
    directory, under the one-line user-error contract. The import happens inside the job, so `--help` stays fast."""

    def task(cfg: DictConfig) -> None:
        module, name = target.split(":")
        function = getattr(importlib.import_module(module), name)
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        with user_errors():
            function(OmegaConf.to_object(cfg), run_dir)

    return task


def run_hydra(command: str, config_name: str, task: Callable[[DictConfig], object], args: list[str],
              check: Callable[[DictConfig], None] | None = None, guard: DirGuard | None = None) -> None:
    """Validate overrides and the command's own `check` (one-line errors, exit 2), check the directories the job
    will write (`guard`), then hand the arguments to Hydra's main. A failed job leaves no directory it created with
    nothing worth keeping in it."""
    register_schemas()
    args = expand_shorthands(args)
    if not _HELP_FLAGS.intersection(args):
        with user_errors():
            validate_overrides(config_name, args, check)
    written: list[DirBefore] = []
    if not _NO_JOB_FLAGS.intersection(args):
        with user_errors():
            args, written = _claim_job_dirs(config_name, args, guard)
    main = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")(task)
    saved_argv = sys.argv
    sys.argv = [f"vepo {command}", *args]
    try:
        main()
    except BaseException as exc:
        if not (isinstance(exc, SystemExit) and exc.code in (0, None)):
            for before in written:
                remove_if_nothing_written(before)
        raise
    finally:
        sys.argv = saved_argv
    failure = take_sweep_failure()  # multirun: failed jobs were recorded; the sweep's exit code says so
    if failure:
        fail(failure, code=1)


def _claim_job_dirs(config_name: str, args: list[str], guard: DirGuard | None) -> tuple[list[str], list[DirBefore]]:
    """Resolve the run directory Hydra will create (a `${now:...}` default is pinned, so the directory checked is the
    one written), run the command's guard on it, and note what the directories held before. Returns the arguments
    to run Hydra with and the directories to clean up after a failure; a directory that cannot be known before
    Hydra runs (one naming Hydra's runtime values, e.g. `${hydra.job.name}`) is left unchecked."""
    overrides = split_overrides(args)
    parsed = OverridesParser.create().parse_overrides(overrides)
    plain = [text for text, ov in zip(overrides, parsed) if not ov.is_sweep_override()]
    cfg = compose_with_hydra(config_name, plain)
    multirun = bool(_MULTIRUN_FLAGS.intersection(args)) or str(OmegaConf.select(cfg, "hydra.mode")).endswith("MULTIRUN")
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    raw = str(OmegaConf.to_container(cfg.hydra.sweep if multirun else cfg.hydra.run)["dir"])
    try:
        where = Path(str(OmegaConf.select(cfg, key))).absolute()
    except OmegaConfBaseException:
        return args, []
    if "${" in raw:
        if multirun or "${" in _NOW.sub("", raw) or not _PLAIN_PATH.match(str(where)):
            return args, []  # a fresh sweep directory per launch; Hydra's runtime values; a path needing quotes
        args = [a for a in args if not a.startswith(f"{key}=")] + [f"{key}={where}"]
    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    dirs = guard(OmegaConf.to_object(cfg), where, multirun) if guard is not None else ([] if multirun else [where])
    return args, [DirBefore.snapshot(d) for d in dirs]
