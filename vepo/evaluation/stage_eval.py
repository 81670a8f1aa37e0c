"""Evaluation inside `vepo train`: the training direction after each stage, and an optional suite at the end."""

from __future__ import annotations

import logging
from pathlib import Path

from vepo.config.schema import TrainConfig
from vepo.data.flores import FloresDataset
from vepo.data.prompts import PromptBuilder
from vepo.evaluation.eval_command import generation_settings
from vepo.evaluation.runner import EvalContext, build_engine, build_record, build_scorer, read_directions, \
    run_translation_suite
from vepo.evaluation.suites import Direction, expand_suite, suite_from_spec
from vepo.evaluation.summary import empty_hypotheses_warning

log = logging.getLogger("vepo.evaluation")


def evaluate_stage(model_dir: Path, flores: FloresDataset, cfg: TrainConfig, builder: PromptBuilder,
                   names: tuple[str, str], extra: dict) -> dict:
    """Generate and score the training direction (lang.src -> lang.tgt) on eval.split; returns the result record."""
    (item,) = read_directions(flores, cfg.eval.split, [Direction(cfg.lang.src, cfg.lang.tgt)], cfg.eval.max_segments)
    engine, _ = build_engine(str(model_dir), cfg.model, cfg.eval, cfg.hardware.device, cfg.seed)
    hyps = engine.generate([builder.prompt(s, *names) for s in item.sources])
    scorer = build_scorer(cfg.eval, cfg.hardware.device)
    record = build_record(item, hyps, scorer, flores, cfg.eval.split, str(model_dir), engine.name,
                          extra | {"prompt": builder.kind, "generation": generation_settings(cfg.eval)})
    empty = empty_hypotheses_warning([record])  # a stage that stopped translating scores ~0 without an error
    if empty:
        log.warning(f"{extra.get('stage', 'stage')} evaluation: {empty}")
    return record


def evaluate_suite_after_training(model_dir: Path, flores: FloresDataset, cfg: TrainConfig, out_dir: Path,
                                  extra: dict) -> dict:
    """`train.eval_suite=<name>`: the suite on the final checkpoint, written to <run>/eval/ like `vepo eval`."""
    suite = suite_from_spec(cfg.train.eval_suite)
    ctx = EvalContext(flores=flores, settings=cfg.eval, out_dir=out_dir, model_label=str(model_dir),
                      extra=extra | {"generation": generation_settings(cfg.eval)})
    return run_translation_suite(expand_suite(suite), ctx, f"{suite.name} · {flores.name} {cfg.eval.split}",
                                 model_path=str(model_dir), model_cfg=cfg.model, prompt_cfg=cfg.prompt,
                                 device=cfg.hardware.device, seed=cfg.seed)
