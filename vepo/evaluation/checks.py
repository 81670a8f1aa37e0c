"""`vepo eval`'s config checks, run before any job starts (one place): the schema's numeric ranges first
(vepo/config/ranges.py), then what needs a registry, the data files or this machine's hardware."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from vepo.config.ranges import check_ranges
from vepo.data.prompts import check_template
from vepo.errors import VepoError
from vepo.utils.devices import check_cuda


def _check_eval_data(data, suite, directions, split: str) -> None:
    """The FLORES directory exists and every direction's files read cleanly: present, UTF-8, not empty, no empty
    line, line-parallel (nothing is generated before this holds)."""
    from vepo.data.flores import ENV_VAR, flores_root, open_flores

    root = flores_root(data.flores_dir)
    if root is None:
        if suite.dataset == "toy" or data.name == "toy":
            return  # the toy layout is written into the run directory
        raise VepoError(f"config error: suite={suite.name} needs the FLORES-200 dataset: set data.flores_dir=<dir> "
                        f"or ${ENV_VAR}")
    flores = open_flores(root)
    for code in sorted({c for d in directions for c in (d.src, d.tgt)}):
        flores.path(split, code)  # every missing file is named before any is read
    flores.check_directions(split, [(d.src, d.tgt) for d in directions])


def _check_devices(cfg: DictConfig) -> None:
    """The CUDA devices that generation (not needed for hyps=) and COMET will use exist here."""
    cpu = f"use hardware=cpu instead of hardware={cfg.hardware.name}"
    if cfg.hyps is None:
        check_cuda("hardware.device", cfg.hardware.device, fix=cpu)
    if cfg.eval.comet and cfg.eval.comet_device is not None:
        check_cuda("eval.comet_device", cfg.eval.comet_device, fix="set eval.comet_device=cpu")
    elif cfg.eval.comet:  # COMET runs on the hardware device
        check_cuda("hardware.device", cfg.hardware.device, fix=f"{cpu} (COMET runs there), or eval.comet_device=cpu")


def check_eval_config(cfg: DictConfig) -> None:
    """A model or hypothesis files, a suite whose codes exist, a known engine, readable retention inputs, and the
    FLORES files of every direction — in the order a user fixes them."""
    from vepo.evaluation.engines import check_engine
    from vepo.evaluation.suites import expand_suite
    from vepo.config.validate import jobs_run_here
    from vepo.models.paths import check_model_path

    check_ranges(cfg)
    if cfg.model.path is None and cfg.hyps is None:
        raise VepoError("config error: vepo eval needs a model (model=<HF id or checkpoint directory>, i.e. "
                        "model.path=...) or hyps=<directory of <src>-<tgt>.txt files>")
    if cfg.model.path is not None:
        check_model_path(cfg.model.path)
    check_engine(cfg.eval.engine)
    if jobs_run_here():  # a cluster launcher's jobs find their GPUs on the cluster
        _check_devices(cfg)
    check_template(cfg.prompt.template)
    suite = OmegaConf.to_object(cfg.suite)
    directions = expand_suite(suite)
    if suite.kind == "retention":
        from vepo.evaluation.retention_suite import check_retention

        check_retention(OmegaConf.to_object(cfg))
        check_model_path(cfg.retention.reference)
    else:
        _check_eval_data(OmegaConf.to_object(cfg.data), suite, directions, cfg.eval.split)
