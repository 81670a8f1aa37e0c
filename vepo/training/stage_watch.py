"""Running one stage's trainer under watch: the console progress display and the non-finite guard."""

from __future__ import annotations

from pathlib import Path

from vepo.config.schema import TrainConfig
from vepo.training.finite_guard import FiniteGuardCallback
from vepo.training.progress import use_console_progress


def train_watched(trainer, stage: str, cfg: TrainConfig, lr_key: str, lr: float, start_model: Path | str | None,
                  resume_from: Path | None) -> None:
    """`trainer.train()` with vepo's console display instead of transformers' printed log dicts, stopping at the
    first non-finite loss, gradient norm or weights: then `TrainingDiverged` (one line, exit code 2) is raised and
    nothing of the diverged step was saved. `lr_key`/`lr` name the learning rate in the hint; `start_model` is the
    last good model when no trainer checkpoint is newer."""
    guard = FiniteGuardCallback(stage, lr_key, lr, start_model)
    trainer.add_callback(guard)
    display = use_console_progress(trainer, stage, cfg.train.log_table_every)
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        display.close()
    guard.raise_if_diverged(trainer.state.max_steps, Path(trainer.args.output_dir))
