"""Trainer arguments shared by the SFT and RL stages (hardware, seeding, logging, no HF checkpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vepo.config.schema import TrainConfig


def common_trainer_args(cfg: TrainConfig, run_dir: Path, stage: str) -> dict[str, Any]:
    return dict(
        output_dir=str(run_dir / "trainer" / stage),
        weight_decay=cfg.train.weight_decay,
        max_grad_norm=cfg.train.max_grad_norm,
        # Resumable checkpoints every train.save_steps (0: none); vepo saves each stage's final model itself.
        save_strategy="steps" if cfg.train.save_steps > 0 else "no",
        save_steps=cfg.train.save_steps or 500,
        save_total_limit=cfg.train.save_total_limit,
        report_to="none",
        use_cpu=cfg.hardware.device == "cpu",
        bf16=cfg.hardware.bf16,
        # transformers 5 renamed gradient_checkpointing; TRL still defaults the old name to True (and warns).
        activation_checkpointing=cfg.hardware.gradient_checkpointing,
        gradient_checkpointing=None,
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=False,
    )
