"""The comparison as LaTeX (booktabs): one table per metric, one row per system, best per column in bold,
significant differences from the baseline marked with a dagger and explained in the caption."""

from __future__ import annotations

from vepo.reporting import render_common as rc
from vepo.reporting.table import Comparison, MetricTable

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "→": r"$\rightarrow$",
            "−": "--", "—": "--", "…": r"\ldots{}", "†": r"$^\dagger$",
            "<": r"$<$", ">": r"$>$", "|": r"\textbar{}"}  # < > | print as other glyphs in OT1 text mode


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def _cell(table: MetricTable, label: str, column: rc.Column, winners: set[str], alpha: float) -> str:
    score = rc.value(table, label, column)
    if score is None:
        return "--"
    text = rc.number(table.metric, score)
    if label in winners:
        text = rf"\textbf{{{text}}}"
    if rc.is_flagged(table, label, column):
        text += r"$^{*}$"
    if rc.is_significant(table, label, column, alpha):
        text += r"$^\dagger$"
    return text


def metric_latex(comparison: Comparison, table: MetricTable, with_directions: bool) -> str:
    cols = rc.columns(table, with_directions)
    n_dirs = sum(not c.is_average for c in cols)
    spec = "l" + "r" * n_dirs + ("@{\\quad}" if n_dirs else "") + "r" * (len(cols) - n_dirs) + "r"
    winners = {c.key: rc.best(table, comparison.labels, c) for c in cols}
    header = " & ".join(["System", *(escape(c.header) for c in cols), r"$\Delta$ avg"]) + r" \\"
    rows = []
    for label in comparison.labels:
        name = escape(label) + (" (baseline)" if label == comparison.baseline else "")
        cells = [_cell(table, label, c, winners[c.key], comparison.settings.alpha) for c in cols]
        d = table.averages[label]["all"].delta
        rows.append(" & ".join([name, *cells, rc.signed(table.metric, d) or "--"]) + r" \\")
    caption = f"{rc.metric_title(table.metric)} on {len(table.directions)} directions. {rc.averages_caption(table)}"
    # daggers mark directions only
    caption += " " + (rc.significance_caption(comparison) if n_dirs else "Bold: best per column.")
    if any(table.cells[label][d].flagged for label in comparison.labels for d in table.directions):
        caption += " *: target not covered by COMET's encoder (not averaged)."
    label_key = "tab:compare-" + "".join(ch for ch in table.metric if ch.isalnum())
    return "\n".join([
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        header,
        r"\midrule",
        *rows,
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{escape(caption)}}}",
        rf"\label{{{label_key}}}",
        r"\end{table}",
    ])


def to_latex(comparison: Comparison, per_direction: str) -> str:
    """Needs \\usepackage{booktabs}; one table environment per metric."""
    parts = ["% vepo compare: needs \\usepackage{booktabs}"]
    for table in comparison.tables:
        parts.append(metric_latex(comparison, table, rc.show_directions(len(table.directions), per_direction)))
    return "\n\n".join(parts) + "\n"
