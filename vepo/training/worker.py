"""Entry point of one training process under accelerate launch / torchrun: `python -m vepo.training.worker <run dir>`.

Reads the resolved config the Hydra job wrote (`<run dir>/config.yaml`) and runs the pipeline; no Hydra here."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from omegaconf import OmegaConf

from vepo.config.schema import TrainConfig
from vepo.errors import VepoError


def load_run_config(run_dir: Path) -> TrainConfig:
    merged = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.load(run_dir / "config.yaml"))
    return OmegaConf.to_object(merged)


def main(argv: list[str]) -> int:
    from accelerate import PartialState

    from vepo.training.train_command import run_training

    run_dir = Path(argv[0])
    cfg = load_run_config(run_dir)
    state = PartialState(cpu=cfg.hardware.device == "cpu")
    # Each rank records what it saw: the evidence that the workers really formed one process group.
    (run_dir / "launch").mkdir(parents=True, exist_ok=True)
    (run_dir / "launch" / f"rank-{state.process_index}.json").write_text(json.dumps(
        {"rank": state.process_index, "world_size": state.num_processes, "backend": state.backend,
         "distributed_type": str(state.distributed_type)}) + "\n")
    logging.basicConfig(level=logging.INFO if state.is_main_process else logging.WARNING,
                        format=f"[rank {state.process_index}] %(levelname)s %(name)s: %(message)s")
    try:
        run_training(cfg, run_dir)
    except VepoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
