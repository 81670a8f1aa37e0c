"""Machine-readable outputs: a long-format CSV (one row per system × metric × direction or average), the training
diagnostics and the alignment tax as CSVs of their own (one row per configuration / system), and JSON holding all."""

from __future__ import annotations

import csv
import io
from typing import Any

from vepo.reporting.alignment_tax import COLUMNS as TAX_COLUMNS
from vepo.reporting.alignment_tax import AlignmentTaxTable, alignment_tax_caption, tax_rows
from vepo.reporting.diagnostics import COLUMNS as DIAGNOSTIC_COLUMNS
from vepo.reporting.diagnostics import OFF_POLICY_RULE, DiagnosticsTable
from vepo.data.directions import split_direction
from vepo.reporting.table import Comparison

CSV_COLUMNS = ["system", "baseline", "metric", "kind", "direction", "src", "tgt", "group", "n_directions", "score",
               "baseline_score", "delta", "p_value", "significant", "missing", "flagged", "path"]


def long_rows(comparison: Comparison) -> list[dict[str, Any]]:
    alpha = comparison.settings.alpha
    rows = []
    for table in comparison.tables:
        for label in comparison.labels:
            common = {"system": label, "baseline": label == comparison.baseline, "metric": table.metric,
                      "path": comparison.paths[label]}
            for direction in table.directions:
                cell = table.cells[label][direction]
                base = table.cells[comparison.baseline][direction].score
                src, tgt = split_direction(direction)
                rows.append({**common, "kind": "direction", "direction": direction, "src": src, "tgt": tgt,
                             "group": None, "n_directions": 1, "score": cell.score, "baseline_score": base,
                             "delta": cell.delta, "p_value": cell.p_value,
                             "significant": None if cell.p_value is None else cell.p_value < alpha,
                             "missing": cell.score is None, "flagged": cell.flagged})
            for group in table.groups:
                avg = table.averages[label][group.name]
                rows.append({**common, "kind": "average", "direction": None, "src": None, "tgt": None,
                             "group": group.name, "n_directions": len(table.common[group.name]),
                             "score": avg.score,
                             "baseline_score": table.averages[comparison.baseline][group.name].score,
                             "delta": avg.delta, "p_value": None, "significant": None,
                             "missing": avg.score is None, "flagged": False})
    return rows


def to_csv(comparison: Comparison) -> str:
    """Empty fields for missing values (pandas reads them back as NaN)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in long_rows(comparison):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def diagnostics_rows(table: DiagnosticsTable) -> list[dict[str, Any]]:
    return [{"system": row.system, "n": row.n, "off_policy_steps": row.off_policy_steps, **row.values,
             "runs": row.runs} for row in table.rows]


def diagnostics_csv(table: DiagnosticsTable) -> str:
    """One row per configuration; `runs` joins the averaged runs' labels with '; '."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["system", "n", "off_policy_steps",
                                                *(c.name for c in DIAGNOSTIC_COLUMNS), "runs"], lineterminator="\n")
    writer.writeheader()
    for row in diagnostics_rows(table):
        writer.writerow({k: "; ".join(v) if k == "runs" else "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def diagnostics_json(table: DiagnosticsTable | None) -> dict[str, Any] | None:
    if table is None:
        return None
    return {"steps": f"off-policy steps ({OFF_POLICY_RULE}); seeds of a configuration averaged with equal weight",
            "columns": {c.name: c.key for c in DIAGNOSTIC_COLUMNS}, "rows": diagnostics_rows(table)}


TAX_CSV_COLUMNS = ["system", "reference", "trained_direction", "gain_source", *(c.name for c in TAX_COLUMNS),
                   "n_untrained", "untrained_directions", "retention_file", "path"]


def alignment_tax_csv(table: AlignmentTaxTable) -> str:
    """One row per system with a retention result; `untrained_directions` as `direction=Δ` joined with '; '."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TAX_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in tax_rows(table):
        row["untrained_directions"] = "; ".join(f"{d}={v:+.4f}" for d, v in row["untrained_directions"].items())
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def alignment_tax_json(table: AlignmentTaxTable | None) -> dict[str, Any] | None:
    if table is None:
        return None
    return {"caption": alignment_tax_caption(), "columns": [c.name for c in TAX_COLUMNS], "rows": tax_rows(table)}


def to_json(comparison: Comparison, extra: dict[str, Any]) -> dict[str, Any]:
    s = comparison.settings
    return {
        "baseline": comparison.baseline,
        "systems": [{"label": label, "path": comparison.paths[label]} for label in comparison.labels],
        "directions": comparison.directions,
        "metrics": [t.metric for t in comparison.tables],
        "significance": {"test": "paired bootstrap resampling", "n_samples": s.n_samples, "seed": s.seed,
                         "alpha": s.alpha, "enabled": s.significance},
        "averages": {t.metric: {"groups": {g.name: t.common[g.name] for g in t.groups}} for t in comparison.tables},
        "rows": long_rows(comparison),
        "warnings": comparison.warnings,
        "notes": comparison.notes + [n for t in comparison.tables for n in t.notes],
        "diagnostics": diagnostics_json(comparison.diagnostics),
        "alignment_tax": alignment_tax_json(comparison.alignment_tax),
        **extra,
    }
