"""`vepo eval`: a model (or hypothesis files) over a suite of FLORES directions, or the retention measurement."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from vepo.config.schema import EvalConfig, EvalSettings
from vepo.data.sources import eval_flores
from vepo.errors import VepoError
from vepo.evaluation.retention_suite import run_retention_eval
from vepo.evaluation.runner import EvalContext, run_translation_suite
from vepo.evaluation.suites import expand_suite
from vepo.utils.provenance import provenance

console = Console()


def generation_settings(settings: EvalSettings) -> dict:
    """What makes two generation runs comparable (recorded in every result)."""
    return {"max_new_tokens": settings.max_new_tokens, "do_sample": settings.do_sample,
            "temperature": settings.temperature if settings.do_sample else None,
            "top_p": settings.top_p if settings.do_sample else None}


def run_eval(cfg: EvalConfig, run_dir: Path) -> dict:
    out_dir = Path(cfg.output_dir).expanduser() if cfg.output_dir else run_dir
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
