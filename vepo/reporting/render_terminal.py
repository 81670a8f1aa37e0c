"""The comparison as rich tables for the terminal, one per metric. A terminal is tall rather than wide, so here the
systems are the columns and directions/averages the rows (the files keep one row per system); with many
directions only the averages are shown (the Markdown and CSV files keep every direction). The training diagnostics
follow the same layout: configurations as columns, statistics as rows."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vepo.reporting import render_common as rc
from vepo.reporting import alignment_tax as tax
from vepo.reporting.diagnostics import COLUMNS as DIAGNOSTIC_COLUMNS
from vepo.reporting.diagnostics import DiagnosticsTable, diagnostics_caption, formatted
from vepo.reporting.table import Comparison, MetricTable


def _cell(table: MetricTable, label: str, column: rc.Column, winners: set[str], alpha: float) -> Text:
    score = rc.value(table, label, column)
    if score is None:
        return Text(rc.MISSING, style="dim")
    text = Text(rc.number(table.metric, score), style="bold" if label in winners else "")
    if rc.is_flagged(table, label, column):
        text.append(rc.FLAG, style="yellow")
    if rc.is_significant(table, label, column, alpha):
        text.append(rc.DAGGER, style="magenta")
    d = rc.delta(table, label, column)
    if d is not None:
        text.append(f" {rc.signed(table.metric, d)}", style="green" if d > 0 else "red" if d < 0 else "dim")
    return text


def metric_table(comparison: Comparison, table: MetricTable, with_directions: bool) -> Table:
    out = Table(title=f"{rc.metric_title(table.metric)} · baseline: {comparison.baseline}", title_style="bold",
                caption=rc.averages_caption(table), caption_justify="left")
    out.add_column("direction")
    for label in comparison.labels:
        out.add_column(Text(label, style="cyan" if label == comparison.baseline else ""), justify="right")
    cols = rc.columns(table, with_directions)
    for i, col in enumerate(cols):
        winners = rc.best(table, comparison.labels, col)
        cells = [_cell(table, label, col, winners, comparison.settings.alpha) for label in comparison.labels]
        first_average = col.is_average and (i == 0 or not cols[i - 1].is_average)
        out.add_row(col.header, *cells, end_section=False)
        if first_average and i > 0:
            out.rows[-2].end_section = True  # a rule between directions and averages
    wins = ["" if label == comparison.baseline else "{}/{}".format(*table.wins[label]) for label in comparison.labels]
    out.rows[-1].end_section = True
    out.add_row(Text("sig. better/worse", style="dim"), *wins)
    return out


def diagnostics_table(table: DiagnosticsTable) -> Table:
    out = Table(title="Training diagnostics · off-policy steps", title_style="bold", caption=diagnostics_caption(),
                caption_justify="left")
    out.add_column("statistic")
    for row in table.rows:
        out.add_column(row.system, justify="right")
    out.add_row(Text("n (seeds)", style="dim"), *(str(row.n) for row in table.rows))
    out.add_row(Text("off-policy steps", style="dim"), *(str(row.off_policy_steps) for row in table.rows),
                end_section=True)
    for column in DIAGNOSTIC_COLUMNS:
        out.add_row(column.header, *(formatted(column, row.values[column.name], rc.MISSING) for row in table.rows))
    return out


def alignment_tax_table(table: tax.AlignmentTaxTable) -> Table:
    """Systems as columns, like the diagnostics; a loss shows red, a gain green."""
    out = Table(title="Alignment tax · against each system's base", title_style="bold",
                caption=tax.alignment_tax_caption(), caption_justify="left")
    out.add_column("measure")
    for row in table.rows:
        out.add_column(row.system, justify="right")
    out.add_row(Text("trained direction", style="dim"), *(row.trained_direction or rc.MISSING for row in table.rows))
    out.add_row(Text("gain from", style="dim"), *(row.gain_source or rc.MISSING for row in table.rows),
                end_section=True)
    worse_if_positive = {"delta_nll", "kl"}
    for column in tax.COLUMNS:
        cells = []
        for row in table.rows:
            value = row.values[column.name]
            good = value is not None and value != 0 and ((value > 0) != (column.name in worse_if_positive))
            style = "" if value is None or not column.signed or value == 0 else "green" if good else "red"
            cells.append(Text(tax.formatted(column, value, rc.MISSING), style=style))
        out.add_row(column.header, *cells)
    return out


def print_comparison(comparison: Comparison, per_direction: str, console: Console | None = None) -> None:
    console = console or Console()
    for warning in comparison.warnings:
        console.print(Text(warning, style="bold yellow"))
    for table in comparison.tables:
        with_dirs = rc.show_directions(len(table.directions), per_direction)
        console.print(metric_table(comparison, table, with_dirs))
        if not with_dirs:
            console.print(Text(f"({len(table.directions)} directions: per-direction scores in the Markdown/CSV "
                               f"files; compare.per_direction=yes shows them here)", style="dim"))
        for note in table.notes:
            console.print(Text(f"note: {note}", style="yellow" if note.startswith("WARNING") else "dim"))
    console.print(Text(rc.significance_caption(comparison), style="dim"))
    if comparison.diagnostics and comparison.diagnostics.rows:
        console.print(diagnostics_table(comparison.diagnostics))
    if comparison.alignment_tax and comparison.alignment_tax.rows:
        console.print(alignment_tax_table(comparison.alignment_tax))
    for note in comparison.notes:
        console.print(Text(f"note: {note}", style="dim"))
