"""Compose-time validation of command-line overrides, reported as one line.

Hydra's own messages span several lines and exit with code 1; vepo composes the config first with the compose API,
turns the first problem into one line that names the key and the allowed values, and exits with code 2.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Callable, Iterator

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from vepo.config.paths import config_dir
from vepo.config.store import register_schemas
from vepo.config.shorthands import expand_shorthands
from vepo.errors import VepoError

# Hydra flags that take a value: the value is not an override.
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                     "--config-dir", "-cd", "--experimental-rerun", "--shell-completion", "-sc"}
_INFO_VALUES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


def split_overrides(args: list[str]) -> list[str]:
    """The override arguments among Hydra's command-line arguments (flags and their values removed)."""
    overrides, skip_next = [], False
    for i, arg in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        if arg in _FLAGS_WITH_VALUE:
            skip_next = True
        elif arg in ("--info", "-i") and i + 1 < len(args) and args[i + 1] in _INFO_VALUES:
            skip_next = True
        elif not arg.startswith("-"):
            overrides.append(arg)
    return overrides


def _concrete_variants(overrides: list[str]) -> list[list[str]]:
    """Sweep overrides (`seed=1,2`) expanded one value at a time, so every value gets validated without composing
    the whole cartesian product."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    base, sweeps = [], []
    for text, ov in zip(overrides, parsed):
        if ov.is_sweep_override():
            values = [ov.get_key_element() + "=" + v for v in ov.sweep_string_iterator()]
            sweeps.append(values)
            base.append(values[0])
        else:
            base.append(text)
    variants = [base]
    for idx, values in ((i, sweeps.pop(0)) for i, ov in enumerate(parsed) if ov.is_sweep_override()):
        for v in values[1:]:
            variant = list(base)
            variant[idx] = v
            variants.append(variant)
    return variants


def _compose(config_name: str, overrides: list[str], with_hydra: bool = False) -> DictConfig:
    register_schemas()
    overrides = expand_shorthands(overrides)  # idempotent; callers that skipped it compose what a run composes
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3", job_name="validate"):
            return compose(config_name=config_name, overrides=overrides, return_hydra_config=with_hydra)
    finally:
        GlobalHydra.instance().clear()


def compose_config(config_name: str, overrides: list[str]) -> DictConfig:
    """The composed config for `overrides` (no sweeps), with compose errors as one-line VepoErrors."""
    try:
        return _compose(config_name, overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise VepoError(describe_error(config_name, exc)) from None


def _allowed_keys(base: DictConfig, full_key: str) -> list[str]:
    parent_path = full_key.rsplit(".", 1)[0] if "." in full_key else ""
    node = OmegaConf.select(base, parent_path) if parent_path else base
    return sorted(node.keys()) if isinstance(node, DictConfig) else []


def _group_options(group: str) -> list[str]:
    folder = Path(config_dir()) / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def did_you_mean(value: str, options: list[str], prefix: str = "") -> str:
    """"; did you mean '<prefix><option>'?" for a near miss of one of `options`, else "" (ends the line, after the
    list of what is allowed)."""
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.75)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""


# What else `model=<value>` accepts besides a group option (vepo/config/shorthands.py).
_GROUP_HINTS = {"model": "; or an existing model directory or an HF id: model=<dir> or model=<org>/<name>"}


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None and exc.__cause__ is not exc:
        exc = exc.__cause__
    return exc


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else ""


def describe_error(config_name: str, exc: BaseException, with_hydra: bool = False,
                   base_overrides: list[str] | None = None) -> str:
    """One line naming the offending key and the allowed values (looked up in the config composed with
    `base_overrides`, e.g. the chosen launcher)."""
    if isinstance(exc, MissingConfigException) and exc.options is not None:
        group, _, missing = (exc.missing_cfg_file or "?/?").rpartition("/")
        allowed = ", ".join(exc.options) or "(none)"
        return (f"config error: unknown option '{missing}' for group '{group}'; allowed: {allowed}"
                f"{_GROUP_HINTS.get(group, '')}{did_you_mean(missing, exc.options)}")
    cause = _root_cause(exc)
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
        key = getattr(cause, "full_key", None) or getattr(cause, "key", None) or "?"
        allowed = _allowed_keys(_compose(config_name, base_overrides or [], with_hydra), str(key))
        parent, _, name = str(key).rpartition(".")
        hint = did_you_mean(name, allowed, prefix=f"{parent}." if parent else "")
        return f"config error: unknown key '{key}'; allowed keys here: {', '.join(allowed) or '(none)'}{hint}"
    if isinstance(cause, ValidationError):
        key = getattr(cause, "full_key", None) or "?"
        base = _compose(config_name, base_overrides or [], with_hydra)
        expected = ""
        try:
            parent = OmegaConf.select(base, key.rsplit(".", 1)[0]) if "." in key else base
            expected = type(OmegaConf.select(base, key)).__name__ if parent is not None else ""
        except OmegaConfBaseException:
            pass
        msg = _first_line(getattr(cause, "msg", str(cause)))
        return f"config error: bad value for '{key}': {msg}" + (f" (expected {expected})" if expected else "")
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None)
        where = f" at '{key}'" if key else ""
        return f"config error{where}: {_one_line(getattr(cause, 'msg', str(cause)))}"
    return f"config error: {_one_line(str(exc))}"


# Hydra launchers whose jobs run on this machine; any other (submitit_slurm, ...) runs them elsewhere.
LOCAL_LAUNCHERS = ("basic", "joblib", "submitit_local")
_JOBS_RUN_HERE: ContextVar[bool] = ContextVar("vepo_jobs_run_here", default=True)


def jobs_run_here() -> bool:
    """False while checking the config of a sweep that a cluster launcher sends to other machines: checks of this
    machine's hardware (is there a GPU?) are then left to the jobs themselves."""
    return _JOBS_RUN_HERE.get()


def _launcher(overrides: list[str]) -> str:
    chosen = [o.split("=", 1)[1] for o in overrides if o.lstrip("+~").startswith("hydra/launcher=")]
    return chosen[-1] if chosen else "basic"


@contextmanager
def _jobs_run_here(value: bool) -> Iterator[None]:
    token = _JOBS_RUN_HERE.set(value)
    try:
        yield
    finally:
        _JOBS_RUN_HERE.reset(token)


def validate_overrides(config_name: str, args: list[str],
                       check: Callable[[DictConfig], None] | None = None) -> None:
    """Compose `config_name` with the overrides in `args` (every sweep value) and run the command's `check` on
    each composed config; raise VepoError (one line) on the first problem, before any job starts."""
    all_overrides = split_overrides(args)
    with _jobs_run_here(_launcher(all_overrides) in LOCAL_LAUNCHERS):
        _validate(config_name, all_overrides, check)


def _validate(config_name: str, all_overrides: list[str], check: Callable[[DictConfig], None] | None) -> None:
    overrides = [o for o in all_overrides if not _is_hydra_override(o)]
    try:
        variants = _concrete_variants(overrides)
    except HydraException as exc:
        raise VepoError(f"config error: cannot parse overrides {overrides}: {_one_line(exc)}") from None
    for variant in variants:
        try:
            cfg = _compose(config_name, variant)
        except (HydraException, OmegaConfBaseException) as exc:
            raise VepoError(describe_error(config_name, exc)) from None
        if check is not None:
            check(cfg)
    hydra_overrides = [o for o in all_overrides if _is_hydra_override(o)]
    if hydra_overrides:  # launcher and sweep settings: composed once, with the first job's overrides
        compose_with_hydra(config_name, variants[0] + hydra_overrides)


def _is_hydra_override(override: str) -> bool:
    return override.lstrip("+~").startswith("hydra")


def compose_with_hydra(config_name: str, overrides: list[str]) -> DictConfig:
    """The composed config including Hydra's own node (launcher, sweeper, run/sweep dirs), as the jobs will see
    it; a bad `hydra/launcher=` option or `hydra.launcher.*` key fails here with one line."""
    try:
        return _compose(config_name, overrides, with_hydra=True)
    except (HydraException, OmegaConfBaseException) as exc:
        groups = [o for o in overrides if "/" in o.split("=", 1)[0]]  # e.g. hydra/launcher=joblib
        raise VepoError(describe_error(config_name, exc, with_hydra=True, base_overrides=groups)) from None
