"""What every output format shares: columns, number formatting, best-per-column, the significance caption."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from vepo.data.directions import short_direction
from vepo.reporting.table import Comparison, MetricTable

METRIC_TITLES = {"chrf++": "chrF++", "spbleu": "spBLEU", "comet": "COMET"}
PRECISION = {"chrf++": 2, "spbleu": 2, "comet": 2}  # vepo stores COMET x 100
MISSING = "—"
DAGGER = "†"
FLAG = "*"
AUTO_DIRECTION_LIMIT = 12  # per_direction=auto: direction columns up to this many directions


@dataclass(frozen=True)
class Column:
    key: str  # a direction, or a group name for averages
    header: str
    is_average: bool


def metric_title(metric: str) -> str:
    return METRIC_TITLES.get(metric, metric)


def show_directions(n_directions: int, per_direction: str) -> bool:
    if per_direction in ("yes", "true", "True"):
        return True
    if per_direction in ("no", "false", "False"):
        return False
    return n_directions <= AUTO_DIRECTION_LIMIT


def columns(table: MetricTable, with_directions: bool = True) -> list[Column]:
    cols = [Column(d, short_direction(d, table.directions), False) for d in table.directions] if with_directions \
        else []
    cols += [Column(g.name, f"avg {g.name}", True) for g in table.groups]
    return cols


def value(table: MetricTable, label: str, column: Column) -> Optional[float]:
    return (table.averages[label][column.key].score if column.is_average else table.cells[label][column.key].score)


def delta(table: MetricTable, label: str, column: Column) -> Optional[float]:
    return (table.averages[label][column.key].delta if column.is_average else table.cells[label][column.key].delta)


def is_significant(table: MetricTable, label: str, column: Column, alpha: float) -> bool:
    if column.is_average:
        return False
    p = table.cells[label][column.key].p_value
    return p is not None and p < alpha


def is_flagged(table: MetricTable, label: str, column: Column) -> bool:
    return not column.is_average and table.cells[label][column.key].flagged


def best(table: MetricTable, labels: list[str], column: Column) -> set[str]:
    """Labels holding the highest value of a column (ties all count); every metric here is higher-is-better."""
    values = {label: value(table, label, column) for label in labels}
    present = [v for v in values.values() if v is not None]
    if len(present) < 2:
        return set()
    top = round(max(present), PRECISION.get(table.metric, 2))
    return {label for label, v in values.items() if v is not None and round(v, PRECISION.get(table.metric, 2)) == top}


def number(metric: str, x: Optional[float]) -> str:
    return MISSING if x is None else f"{x:.{PRECISION.get(metric, 2)}f}"


def signed(metric: str, x: Optional[float]) -> str:
    return "" if x is None else f"{x:+.{PRECISION.get(metric, 2)}f}"


def significance_caption(comparison: Comparison) -> str:
    s = comparison.settings
    return (f"{DAGGER} p < {s.alpha:g} against the baseline ({comparison.baseline}) on that direction: paired "
            f"bootstrap resampling, n={s.n_samples}, seed {s.seed} (sacrebleu PairedTest for chrF++/spBLEU, "
            f"bootstrap over segment scores for COMET). Bold: best per column.")


def averages_caption(table: MetricTable) -> str:
    n_all = len(table.common.get("all", []))
    return (f"Averages over the {n_all} of {len(table.directions)} directions that every system reporting "
            f"{metric_title(table.metric)} has.")
