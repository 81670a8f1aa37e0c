"""`vepo eval`'s config checks that the schema cannot express, run before any job starts (one place)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from vepo.data.prompts import check_template
from vepo.errors import VepoError


def _check_eval_data(data, suite, directions, split: str) -> None:
    """The FLORES directory exists and holds every direction's files (nothing is generated before this holds)."""
    from vepo.data.flores import ENV_VAR, flores_root, open_flores

    root = flores_root(data.flores_dir)
    if root is None:
        if suite.dataset == "toy" or data.name == "toy":
            return  # the toy layout is written into the run directory
        raise VepoError(f"config error: suite={suite.name} needs the FLORES-200 dataset: set data.flores_dir=<dir> "
                        f"or ${ENV_VAR}")
    flores = open_flores(root)
    for code in sorted({c for d in directions for c in (d.src, d.tgt)}):
        flores.path(split, code)


def check_eval_config(cfg: DictConfig) -> None:
    """A model or hypothesis files, a suite whose codes exist, a known engine, readable retention inputs, and the
    FLORES files of every direction — in the order a user fixes them."""
    from vepo.evaluation.engines import check_engine
    from vepo.evaluation.suites import expand_suite
    from vepo.models.paths import check_model_path

    if cfg.model.path is None and cfg.hyps is None:
        raise VepoError("config error: vepo eval needs a model (model=<HF id or checkpoint directory>, i.e. "
                        "model.path=...) or hyps=<directory of <src>-<tgt>.txt files>")
    if cfg.model.path is not None:
        check_model_path(cfg.model.path)
    check_engine(cfg.eval.engine)
    check_template(cfg.prompt.template)
    suite = OmegaConf.to_object(cfg.suite)
    directions = expand_suite(suite)
    if suite.kind == "retention":
        from vepo.evaluation.retention_suite import check_retention

        check_retention(OmegaConf.to_object(cfg))
        check_model_path(cfg.retention.reference)
    else:
        _check_eval_data(OmegaConf.to_object(cfg.data), suite, directions, cfg.eval.split)
