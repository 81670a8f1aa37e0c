"""Training curves from `metrics.jsonl`: one PNG per metric, runs of one configuration (differing only in seed)
drawn as their mean with a min–max band; and the per-bucket diagnostics as one figure of five quintile panels per
bucketing and statistic. Metrics fixed on on-policy steps (clip fractions, diag/*, the ratio) are drawn over the
off-policy steps only (diagnostics.py says why).

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
from matplotlib.ticker import MaxNLocator

from vepo.reporting.diagnostics import (BUCKET_STATS, BUCKETINGS, N_BUCKETS, OFF_POLICY_RULE, bucket_key,
                                        is_off_policy_metric, off_policy_rows)


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


def group_colors(groups: dict[str, list[Curves]]) -> dict[str, str]:
    """One colour per configuration, fixed across figures and panels (a panel missing a group keeps the others')."""
    return {group: f"C{i % 10}" for i, group in enumerate(groups)}


def draw_metric(ax, key: str, groups: dict[str, list[Curves]], colors: dict[str, str]) -> dict[str, object]:
    """One line per configuration on `ax`; returns the line drawn for each group that has the key."""
    lines = {}
    for group, members in groups.items():
        series = [m.frame[key].dropna().rename(m.label) for m in members if key in m.frame]
        series = [s for s in series if not s.empty]
        if not series:
            continue
        table = pd.concat(series, axis=1).sort_index()
        marker = "o" if len(table) <= 12 else None  # sparse curves (stage evaluations) need visible points
        color = colors[group]
        if len(series) == 1:
            (line,) = ax.plot(table.index, table.iloc[:, 0], label=series[0].name, marker=marker, color=color)
        else:  # seeds of one configuration: mean over the runs that reached each step, min–max band
            (line,) = ax.plot(table.index, table.mean(axis=1), label=f"{group or 'all runs'} (mean of {len(series)})",
                              marker=marker, color=color)
            ax.fill_between(table.index, table.min(axis=1), table.max(axis=1), color=color, alpha=0.2, linewidth=0)
        lines[group] = line
    return lines


def step_axis(ax) -> None:
    ax.set_xlabel("RL step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    ax.grid(alpha=0.3)


def save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def plot_metric(key: str, groups: dict[str, list[Curves]], path: Path) -> bool:
    fig = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if not draw_metric(ax, key, groups, group_colors(groups)):
        return False
    step_axis(ax)
    ax.set_ylabel(key)
    ax.set_title(f"{key} ({OFF_POLICY_RULE})" if is_off_policy_metric(key) else key, fontsize="medium")
    ax.legend(fontsize="small")
    fig.tight_layout()
    save(fig, path)
    return True


def quintile_title(bucketing: str, quintile: int) -> str:
    first, last = BUCKETINGS[bucketing]
    return f"q{quintile}" + (f" ({first})" if quintile == 1 else f" ({last})" if quintile == N_BUCKETS else "")


def plot_bucket_panels(bucketing: str, stat: str, groups: dict[str, list[Curves]], path: Path) -> bool:
    """One figure, one panel per quintile q1..q5 side by side (shared y axis, so panels compare at a glance)."""
    fig = Figure(figsize=(3.2 * N_BUCKETS, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, N_BUCKETS, sharey=True)
    colors = group_colors(groups)
    legend: dict[str, object] = {}
    for quintile, ax in enumerate(axes, start=1):
        for group, line in draw_metric(ax, bucket_key(bucketing, quintile, stat), groups, colors).items():
            legend.setdefault(group, line)
        ax.set_title(quintile_title(bucketing, quintile), fontsize="medium")
        step_axis(ax)
    if not legend:
        return False
    axes[0].set_ylabel(stat)
    fig.suptitle(f"{bucketing} quintiles: {stat} ({OFF_POLICY_RULE})")
    fig.legend(list(legend.values()), [line.get_label() for line in legend.values()], loc="outside lower center",
               ncols=min(len(legend), 4), fontsize="small")
    save(fig, path)
    return True


def group_curves(curves: list[Curves]) -> dict[str, list[Curves]]:
    """Runs that share a label without seed are one configuration."""
    groups: dict[str, list[Curves]] = {}
    for c in curves:
        groups.setdefault(c.group, []).append(c)
    return groups


def off_policy_curves(curves: list[Curves]) -> list[Curves]:
    return [Curves(c.label, c.group, off_policy_rows(c.frame)) for c in curves]


def plot_curves(curves: list[Curves], patterns: list[str], out_dir: Path, diagnostics: bool = True) -> list[Path]:
    """One PNG per metric key found in any run, and with `diagnostics` one bucket-panel PNG per bucketing and
    statistic; returns the files written. Metrics fixed on on-policy steps are drawn over off-policy steps."""
    every_step, off_policy = group_curves(curves), group_curves(off_policy_curves(curves))
    written = []
    for key in matching_keys([c.frame for c in curves], patterns):
        path = out_dir / file_name(key)
        if plot_metric(key, off_policy if is_off_policy_metric(key) else every_step, path):
            written.append(path)
    if diagnostics:
        for bucketing in BUCKETINGS:
            for stat in BUCKET_STATS:
                path = out_dir / f"diag_{bucketing}_{stat}.png"
                if plot_bucket_panels(bucketing, stat, off_policy, path):
                    written.append(path)
    return written
