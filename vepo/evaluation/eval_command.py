"""`vepo eval`: a model (or hypothesis files) over a suite of FLORES directions, or the retention measurement."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from omegaconf import OmegaConf
from rich.console import Console

from vepo.config.run_dir_rules import check_eval_dir, eval_out_dir
from vepo.config.runinfo import EVAL_CONFIG
from vepo.config.schema import EvalConfig, EvalSettings
from vepo.data.sources import eval_flores
from vepo.errors import VepoError
from vepo.evaluation.retention_suite import run_retention_eval
from vepo.evaluation.runner import EvalContext, run_translation_suite
from vepo.evaluation.suites import expand_suite
from vepo.utils.io import atomic_write_text
from vepo.utils.provenance import provenance
from vepo.utils.run_dir import RunDirLock

console = Console()


def generation_settings(settings: EvalSettings) -> dict:
    """What makes two generation runs comparable (recorded in every result)."""
    return {"max_new_tokens": settings.max_new_tokens, "do_sample": settings.do_sample,
            "temperature": settings.temperature if settings.do_sample else None,
            "top_p": settings.top_p if settings.do_sample else None}


def run_eval(cfg: EvalConfig, run_dir: Path) -> dict:
    out_dir, key = eval_out_dir(cfg, run_dir)
    # One process writes a directory; a train run is never written into, and a rerun resumes only what it would
    # make the same way. The resolved config stays beside the results: what the next rerun is compared with.
    with RunDirLock(out_dir, "vepo eval"):
        check_eval_dir(cfg, out_dir, key)
        atomic_write_text(out_dir / EVAL_CONFIG, OmegaConf.to_yaml(OmegaConf.structured(cfg)))
        return _run_eval(cfg, out_dir)


def _run_eval(cfg: EvalConfig, out_dir: Path) -> dict:
    prov = provenance(asdict(cfg))
    if cfg.suite.kind == "retention":
        return _retention(cfg, out_dir, prov)
    if cfg.model.path is None and cfg.hyps is None:
        raise VepoError("vepo eval needs a model (model=<HF id or checkpoint dir>) or hyps=<dir of <src>-<tgt>.txt>")
    directions = expand_suite(cfg.suite)
    flores = eval_flores(cfg.data, out_dir, toy=cfg.suite.dataset == "toy", what=f"suite={cfg.suite.name}")
    label = str(cfg.model.path) if cfg.hyps is None else f"hyps:{cfg.hyps}"
    ctx = EvalContext(flores=flores, settings=cfg.eval, out_dir=out_dir, model_label=label,
                      extra={"generation": generation_settings(cfg.eval), "provenance": prov})
    title = f"{cfg.suite.name} · {flores.name} {flores.version} {cfg.eval.split} · {label}"
    summary = run_translation_suite(directions, ctx, title, model_path=cfg.model.path, model_cfg=cfg.model,
                                    prompt_cfg=cfg.prompt, device=cfg.hardware.device, seed=cfg.seed,
                                    hyps_dir=cfg.hyps)
    console.print(f"results: {out_dir / 'results'}  summary: {out_dir / 'summary.md'}")
    return summary


def _retention(cfg: EvalConfig, out_dir: Path, prov: dict) -> dict:
    if cfg.model.path is None:
        raise VepoError("suite=retention needs model=<trained model> (and retention.reference=<base model>)")
    return run_retention_eval(cfg, out_dir, {"generation": generation_settings(cfg.eval), "provenance": prov})
