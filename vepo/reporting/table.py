"""The comparison itself: per metric, systems × directions with deltas against the baseline, p-values and averages.

Averages are taken over the directions every system has (for that metric), so rows stay comparable; a direction
missing from any system is shown as missing and left out of every average, and a note names it. COMET scores of
flagged targets (not covered by COMET's encoder) are shown but left out of COMET averages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from vepo.reporting.alignment_tax import AlignmentTaxTable
from vepo.reporting.diagnostics import DiagnosticsTable
from vepo.data.directions import Group, average_groups, ordered, pivot_of
from vepo.reporting.results import DirectionResult, System
from vepo.reporting.significance import direction_pvalues


@dataclass
class Cell:
    score: Optional[float] = None  # None: missing
    delta: Optional[float] = None  # score - baseline score (None for the baseline or when either is missing)
    p_value: Optional[float] = None
    flagged: bool = False


@dataclass
class AverageCell:
    score: Optional[float] = None
    delta: Optional[float] = None


@dataclass
class MetricTable:
    metric: str
    directions: list[str]
    groups: list[Group]
    common: dict[str, list[str]]  # group name -> directions averaged over
    cells: dict[str, dict[str, Cell]]  # label -> direction -> cell
    averages: dict[str, dict[str, AverageCell]]  # label -> group name -> average
    wins: dict[str, tuple[int, int]]  # label -> (significantly better, significantly worse) directions
    notes: list[str] = field(default_factory=list)


@dataclass
class Settings:
    alpha: float = 0.05
    n_samples: int = 1000
    seed: int = 12345
    significance: bool = True
    by_script: bool = True
    groups: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Comparison:
    labels: list[str]
    baseline: str
    paths: dict[str, str]
    directions: list[str]
    tables: list[MetricTable]
    settings: Settings
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diagnostics: Optional[DiagnosticsTable] = None  # training runs' diagnostics (None: not built)
    alignment_tax: Optional[AlignmentTaxTable] = None  # systems with a retention result (None: not built)


def _mean(values: list[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def _result(system: System, direction: str, metric: str) -> Optional[DirectionResult]:
    result = system.results.get(direction)
    return result if result is not None and metric in result.metrics else None


def build_metric_table(metric: str, systems: list[System], baseline: System, directions: list[str], pivot: str,
                       settings: Settings, unpaired: set[str],
                       advance: Callable[[], None] = lambda: None) -> MetricTable:
    reporting = [s for s in systems if any(metric in r.metrics for r in s.results.values())]
    notes: list[str] = []
    silent = [s.label for s in systems if s not in reporting]
    if silent:
        notes.append(f"{metric}: not reported by {', '.join(silent)} (shown as —, not averaged)")
    cells = {s.label: {} for s in systems}
    for direction in directions:
        base = _result(baseline, direction, metric)
        for system in systems:
            result = _result(system, direction, metric)
            if result is None:
                cells[system.label][direction] = Cell()
                continue
            score = result.metrics[metric]
            delta = None
            if base is not None and system is not baseline:
                delta = score.score - base.metrics[metric].score
            cells[system.label][direction] = Cell(score.score, delta, None, score.flagged)
        if settings.significance and base is not None and direction not in unpaired:
            others = {s.label: r for s in systems if s is not baseline and (r := _result(s, direction, metric))}
            if others:
                pvalues, sig_notes = direction_pvalues(metric, base, others, settings.n_samples, settings.seed)
                notes.extend(sig_notes)
                for label, p in pvalues.items():
                    cells[label][direction].p_value = p
        advance()

    def averageable(d: str) -> bool:
        present = [cells[s.label][d] for s in reporting]
        return bool(present) and all(c.score is not None and not c.flagged for c in present)

    available = [d for d in directions if averageable(d)]
    missing = [d for d in directions if any(cells[s.label][d].score is None for s in reporting)]
    if missing and reporting:
        detail = "; ".join(
            f"{d} (missing: {', '.join(s.label for s in reporting if cells[s.label][d].score is None)})"
            for d in missing)
        notes.append(f"{metric}: {len(missing)} of {len(directions)} directions missing from some systems and left "
                     f"out of every average: {detail}")
    flagged = [d for d in directions if d not in missing and any(cells[s.label][d].flagged for s in reporting)]
    if flagged:
        notes.append(f"{metric}: flagged (target not covered by COMET's encoder), shown with * and left out of "
                     f"averages: {', '.join(flagged)}")
    groups = average_groups(directions, pivot, settings.by_script, settings.groups)
    common = {g.name: [d for d in g.directions if d in available] for g in groups}
    averages: dict[str, dict[str, AverageCell]] = {}
    for system in systems:
        row = {}
        for g in groups:
            if system in reporting and common[g.name]:
                row[g.name] = AverageCell(_mean([cells[system.label][d].score for d in common[g.name]]))
            else:
                row[g.name] = AverageCell()
        averages[system.label] = row
    for system in systems:
        for g in groups:
            mine, base = averages[system.label][g.name].score, averages[baseline.label][g.name].score
            if system is not baseline and mine is not None and base is not None:
                averages[system.label][g.name].delta = mine - base
    wins = {}
    for system in systems:
        ps = [c for c in cells[system.label].values() if c.p_value is not None and c.p_value < settings.alpha]
        wins[system.label] = (sum(c.delta > 0 for c in ps if c.delta is not None),
                              sum(c.delta < 0 for c in ps if c.delta is not None))
    return MetricTable(metric, directions, groups, common, cells, averages, wins, list(dict.fromkeys(notes)))


def build_comparison(systems: list[System], baseline: System, metrics: list[str], settings: Settings,
                     unpaired: set[str], warnings: list[str],
                     progress: Callable[[str, int], Callable[[], None]] | None = None) -> Comparison:
    """`progress(metric, n_directions)` returns the callback advanced after each direction (a progress bar)."""
    all_directions = [d for s in systems for d in s.results]
    pivot = pivot_of(all_directions)
    directions = ordered(all_directions, pivot)
    present = [m for m in metrics if any(m in r.metrics for s in systems for r in s.results.values())]
    tables = [build_metric_table(m, systems, baseline, directions, pivot, settings, unpaired,
                                 progress(m, len(directions)) if progress else lambda: None) for m in present]
    notes = []
    if unpaired:
        notes.append(f"no significance test for {', '.join(sorted(unpaired))}: the systems translated different "
                     f"segments")
    return Comparison(labels=[s.label for s in systems], baseline=baseline.label,
                      paths={s.label: str(s.path) for s in systems}, directions=directions, tables=tables,
                      settings=settings, warnings=list(warnings), notes=notes)
