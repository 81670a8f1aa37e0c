"""Per-direction rows and averages (all, into English, out of English, by script) as CSV, Markdown, JSON and a rich
table."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vepo.data.directions import average_groups, pivot_of
from vepo.utils.io import atomic_write_json, atomic_write_text

METRICS = ("chrf++", "spbleu", "comet")
COLUMNS = ("kind", "group", "direction", "src", "tgt", "n_segments", *METRICS, "comet_flagged")


def direction_row(record: dict) -> dict:
    m = record["metrics"]
    return {
        "kind": "direction", "group": "", "direction": record["direction"], "src": record["src"],
        "tgt": record["tgt"], "n_segments": record["n_segments"],
        **{name: (m[name]["score"] if name in m else None) for name in METRICS},
        "comet_flagged": m["comet"].get("flagged") if "comet" in m else None,
    }


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def average_rows(rows: list[dict]) -> list[dict]:
    """One average row per group of vepo/data/directions.py (the groups `vepo compare` uses, with the same names):
    all, xx→eng / eng→xx, and one per script of the non-English side, each only when it is a proper subset."""
    by_direction = {r["direction"]: r for r in rows}
    directions = list(by_direction)
    out = []
    for group in average_groups(directions, pivot_of(directions), by_script=True, user_groups={}):
        members = [by_direction[d] for d in group.directions]
        out.append({"kind": "average", "group": group.name, "direction": f"avg ({len(members)})", "src": "",
                    "tgt": "", "n_segments": sum(r["n_segments"] for r in members),
                    **{m: _mean([r[m] for r in members]) for m in METRICS}, "comet_flagged": None})
    return out


def empty_hypotheses_warning(records: list[dict], share: float = 0.5) -> str | None:
    """One line when at least `share` of some direction's hypotheses are empty (a model that stops at once, or a
    prompt whose answer the clean-up removes, scores near 0 without any error), with the counts; else None."""
    flagged = []
    for r in sorted(records, key=lambda r: r["direction"]):
        hyps = r.get("hypotheses") or []
        empty = sum(1 for h in hyps if not str(h).strip())
        if hyps and empty >= share * len(hyps):
            flagged.append((r["direction"], empty, len(hyps)))
    if not flagged:
        return None
    shown = ", ".join(f"{d} {e}/{n}" for d, e, n in flagged[:5]) + (" ..." if len(flagged) > 5 else "")
    empty, total = sum(e for _, e, _ in flagged), sum(n for _, _, n in flagged)
    return (f"{empty} of {total} hypotheses are empty in {len(flagged)} of {len(records)} direction(s) ({shown}): "
            f"the model produced no translation there; check the model, the prompt and eval.max_new_tokens")


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _present_metrics(rows: list[dict]) -> list[str]:
    return [m for m in METRICS if any(r[m] is not None for r in rows)]


def write_summary(records: list[dict], out_dir: Path, title: str, notes: list[str]) -> dict:
    rows = [direction_row(r) for r in sorted(records, key=lambda r: r["direction"])]
    averages = average_rows(rows)
    everything = rows + averages
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(everything)
    atomic_write_text(out_dir / "summary.csv", buf.getvalue())
    metrics = _present_metrics(rows)
    header = ["direction", "segments", *metrics]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in everything:
        label = r["direction"] if r["kind"] == "direction" else f"**{r['group']}** {r['direction']}"
        flag = " †" if r["comet_flagged"] else ""
        cells = [label, str(r["n_segments"]), *(_fmt(r[m]) + (flag if m == "comet" else "") for m in metrics)]
        lines.append("| " + " | ".join(cells) + " |")
    if any(r["comet_flagged"] for r in rows):
        lines += ["", "† COMET target language not covered by XLM-R: score unreliable."]
    lines += [""] + [f"- {n}" for n in notes]
    atomic_write_text(out_dir / "summary.md", "\n".join(lines) + "\n")
    summary = {"title": title, "directions": rows, "averages": averages, "notes": notes}
    atomic_write_json(out_dir / "summary.json", summary)
    return summary


def print_summary(summary: dict, console: Console | None = None, max_rows: int = 40) -> None:
    console = console or Console()
    rows = summary["directions"]
    metrics = _present_metrics(rows)
    table = Table(title=summary["title"])
    table.add_column("direction")
    table.add_column("segments", justify="right")
    for m in metrics:
        table.add_column(m, justify="right")
    shown = rows if len(rows) <= max_rows else []  # a 90-row table belongs in summary.md, not the terminal
    for r in shown:
        table.add_row(r["direction"], str(r["n_segments"]), *(_fmt(r[m]) for m in metrics))
    if shown:
        table.add_section()
    for r in summary["averages"]:
        table.add_row(f"{r['group']} {r['direction']}", str(r["n_segments"]), *(_fmt(r[m]) for m in metrics))
    console.print(table)
    for note in summary["notes"]:
        console.print(f"note: {note}")
