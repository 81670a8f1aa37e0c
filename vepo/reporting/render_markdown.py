"""The comparison as Markdown: one table per metric (systems × directions and averages), the training diagnostics,
warnings and notes."""

from __future__ import annotations

from vepo.reporting import render_common as rc
from vepo.reporting import alignment_tax as tax
from vepo.reporting.diagnostics import COLUMNS as DIAGNOSTIC_COLUMNS
from vepo.reporting.diagnostics import DiagnosticsTable, diagnostics_caption, formatted
from vepo.reporting.table import Comparison, MetricTable


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def _cell(table: MetricTable, label: str, column: rc.Column, winners: set[str], comparison: Comparison) -> str:
    score = rc.value(table, label, column)
    if score is None:
        return rc.MISSING
    text = rc.number(table.metric, score)
    if label in winners:
        text = f"**{text}**"
    if rc.is_flagged(table, label, column):
        text += "\\*"
    if rc.is_significant(table, label, column, comparison.settings.alpha):
        text += rc.DAGGER
    d = rc.delta(table, label, column)
    return f"{text} ({rc.signed(table.metric, d)})" if d is not None else text


def metric_markdown(comparison: Comparison, table: MetricTable) -> list[str]:
    cols = rc.columns(table)
    lines = [f"## {rc.metric_title(table.metric)}", ""]
    lines.append("| system | " + " | ".join(_escape(c.header) for c in cols) + " | sig. +/− |")
    lines.append("|---|" + "---:|" * len(cols) + "---:|")
    winners = {c.key: rc.best(table, comparison.labels, c) for c in cols}
    for label in comparison.labels:
        name = _escape(label) + (" (baseline)" if label == comparison.baseline else "")
        cells = [_cell(table, label, c, winners[c.key], comparison) for c in cols]
        wins = "" if label == comparison.baseline else "{}/{}".format(*table.wins[label])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {wins} |")
    lines += ["", rc.averages_caption(table)]
    lines += [f"- {_escape(note)}" for note in table.notes]
    return lines + [""]


def diagnostics_markdown(table: DiagnosticsTable) -> list[str]:
    headers = ["system", "n", "off-policy steps", *(_escape(c.header) for c in DIAGNOSTIC_COLUMNS)]
    lines = ["## Training diagnostics", "", "| " + " | ".join(headers) + " |"]
    lines.append("|---|" + "---:|" * (len(DIAGNOSTIC_COLUMNS) + 2))
    for row in table.rows:
        cells = [formatted(c, row.values[c.name], rc.MISSING) for c in DIAGNOSTIC_COLUMNS]
        lines.append(f"| {_escape(row.system)} | {row.n} | {row.off_policy_steps} | " + " | ".join(cells) + " |")
    return lines + ["", _escape(diagnostics_caption()), ""]


def alignment_tax_markdown(table: tax.AlignmentTaxTable) -> list[str]:
    headers = ["system", "trained direction", *(_escape(c.header) for c in tax.COLUMNS), "gain from"]
    lines = ["## Alignment tax", "", "| " + " | ".join(headers) + " |"]
    lines.append("|---|---|" + "---:|" * len(tax.COLUMNS) + "---|")
    for row in table.rows:
        cells = [tax.formatted(c, row.values[c.name], rc.MISSING) for c in tax.COLUMNS]
        lines.append(f"| {_escape(row.system)} | {_escape(row.trained_direction or rc.MISSING)} | "
                     + " | ".join(cells) + f" | {_escape(row.gain_source or rc.MISSING)} |")
    return lines + ["", _escape(tax.alignment_tax_caption()), ""]


def to_markdown(comparison: Comparison, title: str) -> str:
    lines = [f"# {_escape(title)}", ""]
    lines += [f"> **{_escape(w)}**" if w.startswith("WARNING") else f"> {_escape(w)}" for w in comparison.warnings]
    if comparison.warnings:
        lines.append("")
    for table in comparison.tables:
        lines += metric_markdown(comparison, table)
    if comparison.diagnostics and comparison.diagnostics.rows:
        lines += diagnostics_markdown(comparison.diagnostics)
    if comparison.alignment_tax and comparison.alignment_tax.rows:
        lines += alignment_tax_markdown(comparison.alignment_tax)
    lines += [rc.significance_caption(comparison), "(delta against the baseline in parentheses; "
              "sig. +/−: directions significantly better / worse than the baseline)", ""]
    lines += [f"- {_escape(note)}" for note in comparison.notes]
    lines += ["", "## Systems", "", "| system | directory |", "|---|---|"]
    lines += [f"| {_escape(label)} | `{comparison.paths[label]}` |" for label in comparison.labels]
    return "\n".join(lines) + "\n"
