"""`vepo compare`: find the systems, check they are comparable, build the table (plus training diagnostics
and the alignment tax), write every requested format and the training curves into the compare run directory."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vepo.errors import VepoError
from vepo.reporting.checks import check_datasets, check_settings, check_signatures, unpaired_directions
from vepo.config.compare import CompareConfig
from vepo.reporting.alignment_tax import build_alignment_tax
from vepo.reporting.diagnostics import build_diagnostics
from vepo.reporting.discover import baseline_dir, discover_systems
from vepo.reporting.export import alignment_tax_csv, diagnostics_csv, to_csv, to_json
from vepo.reporting.labels import assign_labels, seed_group
from vepo.reporting.render_latex import to_latex
from vepo.reporting.render_markdown import to_markdown
from vepo.reporting.render_terminal import print_comparison
from vepo.reporting.results import System, load_system
from vepo.reporting.table import Comparison, Settings, build_comparison
from vepo.utils.io import atomic_write_json, atomic_write_text
from vepo.utils.provenance import provenance

def load_systems(cfg: CompareConfig, warnings: list[str]) -> tuple[list[System], System]:
    """Every system, baseline first (cfg.baseline, else the first system named)."""
    skipped: list[Path] = []
    dirs = discover_systems(list(cfg.runs), skipped)
    if skipped:
        warnings.append(f"WARNING: skipped {len(skipped)} director{'y' if len(skipped) == 1 else 'ies'} matched by a "
                        f"pattern but holding no results: {', '.join(str(p) for p in skipped)}")
    if cfg.baseline:
        base = baseline_dir(str(cfg.baseline))
        dirs = [base, *(d for d in dirs if d.path != base.path)]
    if len(dirs) < 2:
        raise VepoError(f"vepo compare needs at least two systems, found one ({dirs[0].path}); add runs=[...] or a "
                        f"baseline=<dir>")
    systems = [load_system(d) for d in dirs]
    return systems, systems[0]


def _curves(systems: list[System], parts: list[dict[str, str]], notes: list[str]) -> list:
    found = [(s, p) for s, p in zip(systems, parts) if (s.path / "metrics.jsonl").is_file()]
    if not found:
        return []
    from vepo.reporting.plots import Curves, read_metrics  # pandas + matplotlib: only when there is a log to read

    curves = []
    for system, p in found:
        frame, bad = read_metrics(system.path / "metrics.jsonl")
        if bad:
            notes.append(f"{system.path / 'metrics.jsonl'}: {bad} unreadable line(s) skipped")
        if not frame.empty:
            curves.append(Curves(system.label, seed_group(p), with_stage_chrf(frame, system.path)))
    return curves


STAGE_CHRF = "eval/chrf++"  # a per-step evaluation logged under this name takes precedence


def with_stage_chrf(frame, run_dir: Path):
    """Add the stage evaluations' chrF++ as a curve: after SFT at step 0, after RL at the last RL step (training
    logs no periodic evaluation today; the training reward's chrF++ component is `reward/chrf/mean`)."""
    if STAGE_CHRF in frame.columns:
        return frame
    points = {}
    for stage, step in (("sft", 0), ("rl", int(frame.index.max()))):
        path = run_dir / "results" / f"{stage}.json"
        try:
            points[step] = float(json.loads(path.read_text(encoding="utf-8"))["metrics"]["chrf++"]["score"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if not points:
        return frame
    frame = frame.reindex(frame.index.union(list(points)))
    for step, score in points.items():
        frame.loc[step, STAGE_CHRF] = score
    return frame


def run_compare(cfg: CompareConfig, out_dir: Path, console: Console | None = None) -> Comparison:
    console = console or Console()
    s = cfg.compare
    check_settings(s)
    warnings: list[str] = []
    systems, baseline = load_systems(cfg, warnings)
    parts = assign_labels(systems, None if cfg.labels is None else list(cfg.labels))
    check_datasets(systems, s.allow_mixed, warnings)
    check_signatures(systems, warnings)
    unpaired = unpaired_directions(systems, s.allow_mixed, warnings)
    settings = Settings(alpha=s.alpha, n_samples=s.bootstrap_samples, seed=s.seed, significance=s.significance,
                        by_script=s.by_script, groups={str(k): [str(c) for c in v] for k, v in s.groups.items()})
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        def progress(metric: str, total: int):
            task = bar.add_task(f"{metric}: paired tests" if s.significance else metric, total=total)
            return lambda: bar.advance(task)

        comparison = build_comparison(systems, baseline, list(s.metrics), settings, unpaired, warnings, progress)
    if not comparison.tables:
        raise VepoError(f"none of the metrics {', '.join(s.metrics)} is in any result file; check compare.metrics")
    title = s.title or f"vepo compare: {len(systems)} systems, {len(comparison.directions)} directions"
    written: list[Path] = []
    curves = _curves(systems, parts, comparison.notes) if s.plots or s.diagnostics else []
    if s.diagnostics and curves:
        comparison.diagnostics = build_diagnostics(curves)
        comparison.notes.extend(comparison.diagnostics.notes)
    if s.alignment_tax:
        comparison.alignment_tax = build_alignment_tax(systems)
        comparison.notes.extend(comparison.alignment_tax.notes)
    if s.plots:
        if curves:
            from vepo.reporting.plots import plot_curves

            written += plot_curves(curves, list(s.curves), out_dir / "curves", s.diagnostics)
        else:
            comparison.notes.append("no training curves: no system has a metrics.jsonl with RL steps")
    if "rich" in s.formats:
        print_comparison(comparison, str(s.per_direction), console)
    else:  # no table on the terminal, but a warning must still be seen
        for warning in comparison.warnings:
            console.print(warning, style="bold yellow", highlight=False)
    if "markdown" in s.formats:
        written.append(atomic_write_text(out_dir / "compare.md", to_markdown(comparison, title)))
    if "csv" in s.formats:
        written.append(atomic_write_text(out_dir / "compare.csv", to_csv(comparison)))
        if comparison.diagnostics and comparison.diagnostics.rows:
            written.append(atomic_write_text(out_dir / "diagnostics.csv", diagnostics_csv(comparison.diagnostics)))
        if comparison.alignment_tax and comparison.alignment_tax.rows:
            written.append(atomic_write_text(out_dir / "alignment_tax.csv",
                                             alignment_tax_csv(comparison.alignment_tax)))
    if "latex" in s.formats:
        written.append(atomic_write_text(out_dir / "compare.tex", to_latex(comparison, str(s.per_direction))))
    if "json" in s.formats:
        extra = {"title": title, "curves": [str(p) for p in written if p.suffix == ".png"],
                 "provenance": provenance()}
        written.append(atomic_write_json(out_dir / "compare.json", to_json(comparison, extra)))
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    return comparison
