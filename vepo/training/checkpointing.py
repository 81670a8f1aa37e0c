"""Checkpoints and resume.

The Hugging Face trainer writes `trainer/<stage>/checkpoint-<step>/` (weights, optimiser, scheduler, RNG states,
trainer state with the data position) every `train.save_steps` steps and keeps the last `train.save_total_limit`.
vepo adds `vepo_state.json` (objective controller state, reward-schedule state) to each checkpoint *last*: it marks the
checkpoint complete, so one torn by a kill is never resumed from. Finished stages are saved to a temporary directory
and renamed, with a `stage_complete.json` marker, so a resumed run skips them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

from vepo.utils.io import atomic_write_json, atomic_write_text

STATE_FILE = "vepo_state.json"
STAGE_MARKER = "stage_complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class VepoStateCallback(TrainerCallback):
    """Writes the controllers' state into every checkpoint the trainer saves."""

    def __init__(self, objective=None, reward_mix=None) -> None:
        self.objective, self.reward_mix = objective, reward_mix

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if ckpt.is_dir():
            atomic_write_json(ckpt / STATE_FILE, controller_state(self.objective, self.reward_mix,
                                                                   state.global_step))


def controller_state(objective, reward_mix, step: int) -> dict:
    balance = getattr(reward_mix, "balance", None)
    return {"global_step": step,
            "objective": objective.state_dict() if objective is not None else None,
            "balance": dict(balance.state) if balance is not None else None}


def restore_controller_state(checkpoint: Path, objective=None, reward_mix=None) -> int:
    """Load the controllers' state saved with `checkpoint`; returns its global step."""
    saved = json.loads((checkpoint / STATE_FILE).read_text())
    if objective is not None and saved.get("objective") is not None:
        objective.load_state_dict(saved["objective"])
    balance = getattr(reward_mix, "balance", None)
    if balance is not None and saved.get("balance") is not None:
        balance.state.update(saved["balance"])
    return int(saved["global_step"])


def latest_checkpoint(trainer_dir: Path) -> Path | None:
    """The newest complete checkpoint under `trainer_dir`, or None."""
    if not trainer_dir.is_dir():
        return None
    found = []
    for path in trainer_dir.iterdir():
        match = _CHECKPOINT.match(path.name)
        if match and (path / STATE_FILE).is_file() and (path / "trainer_state.json").is_file():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def truncate_metrics(path: Path, max_step: int) -> None:
    """Drop metric lines past `max_step` (logged after the checkpoint a run resumes from) and any torn last line, so
    the resumed run appends without duplicate steps."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if int(record.get("step", 0)) <= max_step:
            kept.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def stage_done(directory: Path) -> bool:
    return (directory / STAGE_MARKER).is_file()


def finish_stage(tmp_dir: Path, final_dir: Path, info: dict) -> Path:
    """Move a fully written stage output into place and mark it complete."""
    atomic_write_json(tmp_dir / STAGE_MARKER, info)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    tmp_dir.rename(final_dir)
    return final_dir


def staging_dir(final_dir: Path) -> Path:
    tmp = final_dir.with_name(final_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def save_stage(trainer, tokenizer, out_dir: Path, info: dict, extra=None, merge_adapters: bool = False) -> Path:
    """Save the trained model and tokenizer atomically: written aside, then moved into place and marked. Every rank
    calls save_model (sharded optimisers gather weights there); only rank 0 writes. A LoRA model saves its adapters;
    with merge_adapters the adapters go to `<out>-adapter/` and `<out>/` gets the merged full model."""
    main = trainer.is_world_process_zero()
    tmp = staging_dir(out_dir) if main else out_dir.with_name(out_dir.name + ".tmp")
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if main and merge_adapters and hasattr(trainer.model, "merge_and_unload"):
        adapters = adapter_dir_for(out_dir)
        if adapters.exists():
            shutil.rmtree(adapters)
        tmp.rename(adapters)
        tokenizer.save_pretrained(adapters)
        tmp.mkdir()
        trainer.accelerator.unwrap_model(trainer.model).merge_and_unload().save_pretrained(tmp)
    if main:
        tokenizer.save_pretrained(tmp)
        carry_added_tokens(tokenizer, tmp)
        if extra is not None:
            extra(tmp)
        finish_stage(tmp, out_dir, info)
    trainer.accelerator.wait_for_everyone()
    return out_dir


def adapter_dir_for(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + "-adapter")


def carry_added_tokens(tokenizer, directory: Path) -> None:
    """Keep extend-vocab's record of new token ids with every checkpoint made from an extended model, so DPPO-AV
    still treats them as rare when a later run starts from that checkpoint."""
    from vepo.tokenization.added_tokens import ADDED_TOKENS_FILE

    source = Path(str(getattr(tokenizer, "name_or_path", "") or "")) / ADDED_TOKENS_FILE
    if source.is_file() and not (Path(directory) / ADDED_TOKENS_FILE).exists():
        shutil.copy2(source, Path(directory) / ADDED_TOKENS_FILE)
