"""Runs a Hydra task from a Typer subcommand, keeping Hydra's own flags (-m, --cfg, --info, --help, hydra.*)."""

from __future__ import annotations

import importlib
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape

from vepo.cli.sweep import take_sweep_failure
from vepo.config.paths import config_dir
from vepo.config.store import register_schemas
from vepo.config.shorthands import expand_shorthands
from vepo.config.validate import validate_overrides
from vepo.errors import VepoError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_HELP_FLAGS = {"--help", "-h", "--hydra-help", "--shell-completion", "-sc"}


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
              check: Callable[[DictConfig], None] | None = None) -> None:
    """Validate overrides and the command's own `check` (one-line errors, exit 2), then hand the arguments to
    Hydra's main."""
    register_schemas()
    args = expand_shorthands(args)
    if not _HELP_FLAGS.intersection(args):
        with user_errors():
            validate_overrides(config_name, args, check)
    main = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")(task)
    saved_argv = sys.argv
    sys.argv = [f"vepo {command}", *args]
    try:
        main()
    finally:
        sys.argv = saved_argv
    failure = take_sweep_failure()  # multirun: failed jobs were recorded; the sweep's exit code says so
    if failure:
        fail(failure, code=1)
