"""`vepo eval model.path=<checkpoint>`: chrF++ of a checkpoint on the toy devtest, written as JSON."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vepo.config.schema import EvalConfig, EvalSettings, LangConfig, ModelConfig
from vepo.data.toy_flores import ensure_flores_dir
from vepo.errors import VepoError
from vepo.evaluation.direction import evaluate_direction
from vepo.models.loading import load_model, load_tokenizer
from vepo.utils.io import atomic_write_json
from vepo.utils.provenance import provenance


def evaluate_checkpoint(path: str | Path, flores_dir: Path, model: ModelConfig, device: str, lang: LangConfig,
                        settings: EvalSettings, dataset: str) -> dict:
    """Load a checkpoint (model + tokenizer) and evaluate one direction; the result names the model."""
    tokenizer = load_tokenizer(path, model.trust_remote_code)
    policy = load_model(path, model.dtype, device, model.trust_remote_code)
    result = evaluate_direction(policy, tokenizer, flores_dir, lang, settings, dataset=dataset)
    result["model"] = str(path)
    return result


def run_checkpoint_eval(cfg: EvalConfig, run_dir: Path) -> Path:
    if cfg.model.path is None:
        raise VepoError("vepo eval needs a model: pass model.path=<checkpoint directory or HF id>")
    flores_dir = ensure_flores_dir(cfg.data, run_dir)
    result = evaluate_checkpoint(cfg.model.path, flores_dir, cfg.model, cfg.hardware.device, cfg.lang, cfg.eval,
                                 cfg.data.name)
    result["provenance"] = provenance(asdict(cfg))
    out = Path(cfg.output) if cfg.output else run_dir / "results.json"
    atomic_write_json(out, result)
    table = Table(title=f"{cfg.data.name} {cfg.eval.split}")
    for col in ("direction", "segments", "chrF++"):
        table.add_column(col)
    table.add_row(result["direction"], str(result["n_segments"]), f"{result['metrics']['chrf++']['score']:.2f}")
    console = Console()
    console.print(table)
    console.print(f"signature: {result['metrics']['chrf++']['signature']}")
    console.print(f"wrote {out}")
    return out
