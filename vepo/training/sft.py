"""SFT warm-up (TRL SFTTrainer) on prompt/completion pairs, loss on the completion only."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from vepo.config.schema import TrainConfig
from vepo.training.callbacks import MetricsJsonlCallback
from vepo.training.checkpointing import (
    VepoStateCallback,
    restore_controller_state,
    save_stage,
    truncate_metrics,
)
from vepo.training.stage_watch import train_watched
from vepo.training.trainer_args import common_trainer_args, peft_config


def run_sft(model, tokenizer, dataset: Dataset, cfg: TrainConfig, run_dir: Path, out_dir: Path,
            steps: int, lr: float, resume_from: Path | None = None, extra_callbacks: Sequence = ()) -> Path:
    """Train for `steps` optimiser steps at peak learning rate `lr` (continuing from the checkpoint `resume_from`);
    save model + tokenizer to `out_dir`, marked complete."""
    t = cfg.train
    args = SFTConfig(
        **common_trainer_args(cfg, run_dir, "sft"),
        max_steps=steps,
        learning_rate=lr,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, steps // 20),
        # train.sft_batch_size is the global batch: each process takes its share.
        per_device_train_batch_size=max(1, t.sft_batch_size // int(os.environ.get("WORLD_SIZE", "1"))),
        completion_only_loss=True,
        max_length=cfg.model.tiny.max_position_embeddings if cfg.model.path is None else 1024,
        logging_steps=1,  # every step: the console, the non-finite guard and sft_metrics.jsonl see each one
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(cfg.model.lora),
        callbacks=[MetricsJsonlCallback(run_dir / "sft_metrics.jsonl", stage="sft"), VepoStateCallback(),
                   *extra_callbacks],
    )
    logging.getLogger("vepo").info("SFT: %d steps at lr %g", steps, lr)
    if resume_from is not None:
        truncate_metrics(run_dir / "sft_metrics.jsonl", restore_controller_state(resume_from))
    lr_key = "train.sft_lr" if cfg.algo.trainer.sft_warmup_lr is None else "algo.trainer.sft_warmup_lr"
    train_watched(trainer, "sft", cfg, lr_key, lr, getattr(model, "name_or_path", None), resume_from)
    # LoRA adapters are merged into models/sft: RL (and its reference model) start from a plain checkpoint.
    return save_stage(trainer, tokenizer, out_dir, {"stage": "sft", "steps": steps}, merge_adapters=True)
