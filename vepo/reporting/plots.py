"""Training curves from `metrics.jsonl`: one PNG per metric, runs of one configuration (differing only in seed)
drawn as their mean with a min–max band.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend state, no display needed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


@dataclass
class Curves:
    label: str  # the system's row label
    group: str  # the label without its seed
    frame: pd.DataFrame  # indexed by step


def read_metrics(path: Path) -> tuple[pd.DataFrame, int]:
    """RL steps of a metrics.jsonl (numeric columns, indexed by step) and the number of unreadable lines."""
    rows, bad = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # e.g. a last line cut short by a killed run
            bad += 1
            continue
        if isinstance(row, dict) and "step" in row and row.get("stage", "rl") == "rl":
            rows.append(row)
    if not rows:
        return pd.DataFrame(), bad
    frame = pd.DataFrame(rows).drop_duplicates("step", keep="last").set_index("step").sort_index()
    return frame.apply(pd.to_numeric, errors="coerce").dropna(axis=1, how="all"), bad


def matching_keys(frames: list[pd.DataFrame], patterns: list[str]) -> list[str]:
    """Columns matching the patterns, in pattern order, then column order."""
    columns: list[str] = []
    for frame in frames:
        columns.extend(c for c in frame.columns if c not in columns)
    keys: list[str] = []
    for pattern in patterns:
        keys.extend(c for c in columns if fnmatchcase(c, pattern) and c not in keys)
    return keys


def file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", key).strip("_") + ".png"


def plot_metric(key: str, groups: dict[str, list[Curves]], path: Path) -> bool:
    fig = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    drawn = False
    for group, members in groups.items():
        series = [m.frame[key].dropna().rename(m.label) for m in members if key in m.frame]
        series = [s for s in series if not s.empty]
        if not series:
            continue
        table = pd.concat(series, axis=1).sort_index()
        marker = "o" if len(table) <= 12 else None  # sparse curves (stage evaluations) need visible points
        if len(series) == 1:
            (line,) = ax.plot(table.index, table.iloc[:, 0], label=series[0].name, marker=marker)
        else:  # seeds of one configuration: mean over the runs that reached each step, min–max band
            (line,) = ax.plot(table.index, table.mean(axis=1), label=f"{group or 'all runs'} (mean of {len(series)})",
                              marker=marker)
            ax.fill_between(table.index, table.min(axis=1), table.max(axis=1), color=line.get_color(), alpha=0.2,
                            linewidth=0)
        drawn = True
    if not drawn:
        return False
    ax.set_xlabel("RL step")
    ax.set_ylabel(key)
    ax.set_title(key)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return True


def plot_curves(curves: list[Curves], patterns: list[str], out_dir: Path) -> list[Path]:
    """One PNG per metric key found in any run; returns the files written."""
    groups: dict[str, list[Curves]] = {}
    for c in curves:
        groups.setdefault(c.group, []).append(c)
    written = []
    for key in matching_keys([c.frame for c in curves], patterns):
        path = out_dir / file_name(key)
        if plot_metric(key, groups, path):
            written.append(path)
    return written
