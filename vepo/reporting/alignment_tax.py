"""The alignment-tax table of `vepo compare`: per system, the gain on its trained direction next to what it lost
elsewhere against its base, from the system's `vepo eval suite=retention` result (vepo/evaluation/retention_suite.py).

Where a system's retention result is looked for (first found): <system>/results/retention.json (the system is a
retention eval directory) and <system>/retention/results/retention.json (a training run evaluated with
`output_dir=<run>/retention`). A system without one is not in the table.

The gain on the trained direction is chrF++(system) − chrF++(reference) when the retention result measured the
trained direction (same reference, same decoding as the losses); otherwise, for a training run, chrF++ after RL −
chrF++ after SFT from its stage evaluations (results/rl.json − results/sft.json, the same numbers as summary.json's
chrf_rl − chrf_sft). The source is named in every row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from vepo.reporting.results import System

RETENTION_FILES = (Path("results") / "retention.json", Path("retention") / "results" / "retention.json")


@dataclass(frozen=True)
class TaxColumn:
    name: str  # CSV / JSON field
    header: str
    decimals: int
    signed: bool


COLUMNS = [
    TaxColumn("gain_trained", "gain trained ΔchrF++", 2, True),
    TaxColumn("delta_chrf_untrained", "untrained ΔchrF++", 2, True),
    TaxColumn("delta_nll", "ΔNLL/token", 4, True),
    TaxColumn("kl", "KL(model‖ref)/token", 4, False),
    TaxColumn("mc_accuracy", "MC acc", 3, False),
    TaxColumn("delta_mc_accuracy", "ΔMC acc", 3, True),
]


@dataclass
class TaxRow:
    system: str
    path: str
    retention_file: str
    reference: str
    trained_direction: Optional[str]
    gain_source: Optional[str]  # where gain_trained comes from (None: not known)
    untrained_directions: dict[str, float]  # direction -> model − reference chrF++
    values: dict[str, Optional[float]]  # column name -> value


@dataclass
class AlignmentTaxTable:
    rows: list[TaxRow]
    notes: list[str] = field(default_factory=list)


def find_retention(path: Path) -> Optional[Path]:
    return next((path / f for f in RETENTION_FILES if (path / f).is_file()), None)


def _read(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == "retention" else None


def _stage_chrf(path: Path) -> tuple[Optional[float], Optional[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return float(data["metrics"]["chrf++"]["score"]), data.get("direction")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def trained_gain(system_path: Path, retention: dict) -> tuple[Optional[float], Optional[str], Optional[str]]:
    """(gain, source, direction); see the module docstring for the order."""
    trained = (retention.get("translation") or {}).get("trained")
    if trained and trained.get("delta") is not None:
        return float(trained["delta"]), "retention: model − reference", trained["direction"]
    rl, direction = _stage_chrf(system_path / "results" / "rl.json")
    sft, _ = _stage_chrf(system_path / "results" / "sft.json")
    if rl is not None and sft is not None:
        return rl - sft, "train run: RL − SFT", direction or retention.get("trained_direction")
    return None, None, retention.get("trained_direction")


def _get(block: Any, key: str) -> Optional[float]:
    value = block.get(key) if isinstance(block, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def system_row(system: System, path: Path, data: dict) -> TaxRow:
    gain, source, direction = trained_gain(system.path, data)
    translation = data.get("translation") or {}
    untrained = {row["direction"]: float(row["delta"]) for row in translation.get("directions", [])
                 if not row.get("trained") and isinstance(row.get("delta"), (int, float))}
    lm, mc = data.get("lm"), data.get("mc")
    values = {
        "gain_trained": gain,
        "delta_chrf_untrained": _get(translation.get("untrained_mean"), "delta"),
        "delta_nll": _get(lm, "delta_nll"),
        "kl": _get(lm, "kl_model_reference"),
        "mc_accuracy": _get(mc, "accuracy"),
        "delta_mc_accuracy": _get(mc, "delta_accuracy"),
    }
    return TaxRow(system.label, str(system.path), str(path), str(data.get("reference")), direction, source,
                  untrained, values)


def build_alignment_tax(systems: list[System]) -> AlignmentTaxTable:
    rows, notes = [], []
    for system in systems:
        path = find_retention(system.path)
        if path is None:
            continue
        data = _read(path)
        if data is None:
            notes.append(f"alignment tax: {path} is not a readable retention result; {system.label} left out")
            continue
        if not data.get("complete", True):
            notes.append(f"alignment tax: {path} is from an unfinished retention run; its missing parts show as —")
        rows.append(system_row(system, path, data))
    return AlignmentTaxTable(rows, notes)


def alignment_tax_caption() -> str:
    return ("Alignment tax: each system against its own base (retention.reference). gain trained: chrF++ gained on "
            "the trained direction; untrained ΔchrF++: mean model − reference over the untrained directions; "
            "ΔNLL and KL(model‖ref) per token on held-out text; MC: multiple-choice accuracy (Δ against the "
            "reference). Negative Δ chrF++ / MC and positive ΔNLL / KL are what training cost.")


def formatted(column: TaxColumn, value: Optional[float], missing: str) -> str:
    if value is None:
        return missing
    return f"{value:+.{column.decimals}f}" if column.signed else f"{value:.{column.decimals}f}"


def tax_rows(table: AlignmentTaxTable) -> list[dict[str, Any]]:
    """One dict per system (CSV and JSON)."""
    return [{"system": r.system, "reference": r.reference, "trained_direction": r.trained_direction,
             "gain_source": r.gain_source, **r.values, "n_untrained": len(r.untrained_directions),
             "untrained_directions": r.untrained_directions, "retention_file": r.retention_file, "path": r.path}
            for r in table.rows]
