"""Training diagnostics from `metrics.jsonl`: where the objective clips and spends its gradient, per configuration.

Training logs per RL step the per-bucket statistics of vepo/objectives/diagnostics.py (`diag/entropy_q{1..5}/…`,
`diag/rarity_q{1..5}/…`, `diag/kl_old`). With off-policy reuse (train.steps_per_generation=2) every other step is
on-policy, where the clip fraction and `diag/kl_old` are 0 and the ratio is 1 by construction; averaging those in would
halve every number and plotting them draws a zigzag. So statistics and the diag curves use the off-policy steps
only: the steps with `diag/rollout_step` > 0 (the trainer's count of optimiser steps since the batch was generated;
runs logged before it existed fall back to `diag/kl_old` > 0).

Works on the frames of plots.read_metrics (pandas DataFrames indexed by step) through their methods only, so this
module does not import pandas itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import pandas as pd

    from vepo.reporting.plots import Curves

KL_OLD = "diag/kl_old"
ROLLOUT_STEP = "diag/rollout_step"  # optimiser steps since the batch was generated: 0 = on-policy
CLIP_FRAC = "clip_frac"  # the clip fraction, or DPPO's masked fraction
RATIO_MEAN = "objective/ratio_mean"
N_BUCKETS = 5
BUCKET_STATS = ("token_share", "clip_frac", "grad_share")
# bucketing -> what its first and last quintile hold
BUCKETINGS = {"entropy": ("lowest entropy", "highest entropy"), "rarity": ("most frequent", "rarest")}
# metrics that are fixed on on-policy steps (0, or a ratio of 1): drawn over off-policy steps only
OFF_POLICY_METRICS = ("diag/*", CLIP_FRAC, "objective/clip_frac*", RATIO_MEAN)
OFF_POLICY_RULE = "off-policy steps: diag/rollout_step > 0"


def bucket_key(bucketing: str, quintile: int, stat: str) -> str:
    return f"diag/{bucketing}_q{quintile}/{stat}"


def is_off_policy_metric(key: str) -> bool:
    return any(fnmatchcase(key, pattern) for pattern in OFF_POLICY_METRICS)


def with_empty_bucket_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """A bucket without tokens logs token_share 0 and no grad_share: its share of the gradient is 0, not unknown
    (so grad_share averages over the same steps as token_share). Its clip_frac stays missing: a rate of nothing."""
    frame = frame.copy()
    for bucketing in BUCKETINGS:
        for q in range(1, N_BUCKETS + 1):
            tokens, grad = bucket_key(bucketing, q, "token_share"), bucket_key(bucketing, q, "grad_share")
            if tokens not in frame:
                continue
            empty = frame[tokens] == 0
            if grad not in frame:
                frame[grad] = float("nan")
            frame.loc[empty & frame[grad].isna(), grad] = 0.0
    return frame


def off_policy_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The off-policy steps (diag/rollout_step > 0; without that column, diag/kl_old > 0), empty bucket shares filled
    in. A run logged before either existed keeps every step (its on- and off-policy steps cannot be told apart)."""
    if ROLLOUT_STEP in frame:
        return with_empty_bucket_shares(frame[frame[ROLLOUT_STEP] > 0])
    if KL_OLD not in frame:
        return frame
    return with_empty_bucket_shares(frame[frame[KL_OLD] > 0])


@dataclass(frozen=True)
class DiagnosticColumn:
    name: str  # CSV / JSON field
    key: str  # metrics.jsonl key
    header: str
    decimals: int


COLUMNS = [
    DiagnosticColumn("clip_frac", CLIP_FRAC, "clip/mask frac", 3),
    DiagnosticColumn("kl_old", KL_OLD, "KL(old‖π)", 4),
    DiagnosticColumn("ratio_mean", RATIO_MEAN, "ratio mean", 4),
    DiagnosticColumn("entropy_q5_grad_share", bucket_key("entropy", 5, "grad_share"), "high-H q5 grad share", 3),
    DiagnosticColumn("entropy_q5_clip_frac", bucket_key("entropy", 5, "clip_frac"), "high-H q5 clip frac", 3),
    DiagnosticColumn("rarity_q5_grad_share", bucket_key("rarity", 5, "grad_share"), "rare q5 grad share", 3),
    DiagnosticColumn("rarity_q5_clip_frac", bucket_key("rarity", 5, "clip_frac"), "rare q5 clip frac", 3),
    DiagnosticColumn("rarity_q5_token_share", bucket_key("rarity", 5, "token_share"), "rare q5 token share", 3),
]


@dataclass
class DiagnosticsRow:
    system: str  # the run's label, or for several seeds of one configuration the label without its seed
    runs: list[str]  # labels of the runs averaged (n = len(runs))
    off_policy_steps: int  # summed over the runs
    values: dict[str, Optional[float]]  # column name -> mean over the runs of each run's off-policy mean

    @property
    def n(self) -> int:
        return len(self.runs)


@dataclass
class DiagnosticsTable:
    rows: list[DiagnosticsRow]
    notes: list[str] = field(default_factory=list)


def column_mean(frame: pd.DataFrame, key: str) -> Optional[float]:
    """Mean over the steps that logged the key (a bucket without tokens logs no clip_frac)."""
    if key not in frame or frame[key].isna().all():
        return None
    return float(frame[key].mean())


def run_statistics(frame: pd.DataFrame) -> tuple[dict[str, Optional[float]], int]:
    """One run: each column's mean over its off-policy steps, and how many there were."""
    rows = off_policy_rows(frame)
    return {c.name: column_mean(rows, c.key) for c in COLUMNS}, len(rows)


def mean_over_runs(per_run: list[dict[str, Optional[float]]], name: str) -> Optional[float]:
    present = [stats[name] for stats in per_run if stats[name] is not None]
    return sum(present) / len(present) if present else None


def configuration_row(members: list[Curves]) -> DiagnosticsRow:
    """Seeds of one configuration: each run weighs the same, whatever its number of steps."""
    measured = [run_statistics(m.frame) for m in members]
    per_run = [stats for stats, _ in measured]
    name = members[0].label if len(members) == 1 else (members[0].group or "all runs")
    return DiagnosticsRow(name, [m.label for m in members], sum(steps for _, steps in measured),
                          {c.name: mean_over_runs(per_run, c.name) for c in COLUMNS})


def has_off_policy_steps(curves: Curves) -> bool:
    frame = curves.frame
    if ROLLOUT_STEP in frame:
        return bool((frame[ROLLOUT_STEP] > 0).any())
    return KL_OLD in frame and bool((frame[KL_OLD] > 0).any())


def build_diagnostics(curves: list[Curves]) -> DiagnosticsTable:
    """One row per configuration among the runs with a metrics.jsonl; runs without off-policy diagnostics (logged
    before they existed, or trained fully on-policy) are left out with a note."""
    usable = [c for c in curves if has_off_policy_steps(c)]
    notes = []
    left_out = [c.label for c in curves if not has_off_policy_steps(c)]
    if left_out:
        notes.append(f"training diagnostics: no off-policy step ({OFF_POLICY_RULE}) in the metrics.jsonl of "
                     f"{', '.join(left_out)} (logged before diagnostics existed, or trained on-policy only); left "
                     f"out")
    groups: dict[str, list[Curves]] = {}
    for c in usable:
        groups.setdefault(c.group, []).append(c)
    return DiagnosticsTable([configuration_row(members) for members in groups.values()], notes)


def diagnostics_caption() -> str:
    return (f"Training diagnostics: means over the off-policy steps ({ROLLOUT_STEP} > 0; on on-policy steps the clip "
            f"fraction and KL are 0 and the ratio 1 by construction), averaged over the n seeds of a configuration. "
            f"q5: the highest-entropy / rarest fifth of the tokens; grad share: the bucket's share of the gradient "
            f"weight |A·w| on unclipped tokens; clip frac: the share of its tokens the clip or trust region removed.")


def formatted(column: DiagnosticColumn, value: Optional[float], missing: str) -> str:
    return missing if value is None else f"{value:.{column.decimals}f}"
