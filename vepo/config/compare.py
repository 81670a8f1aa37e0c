"""Structured config of `vepo compare` (conf/compare.yaml extends it): which runs, which baseline, how to report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from vepo.config.ranges import SEED_MAX, ranged

FORMATS = ("rich", "markdown", "csv", "latex", "json")
METRICS = ("chrf++", "spbleu", "comet")
DEFAULT_CURVES = [
    "reward_mean", "reward/*/mean", "entropy_mean", "clip_frac", "objective/clip_frac_low",
    "objective/clip_frac_high", "diag/kl_old", "objective/ratio_mean", "eval/*chrf*", "*chrf++*",
]  # fmt: skip


@dataclass
class CompareSettings:
    formats: List[str] = field(default_factory=lambda: list(FORMATS))  # rich = the terminal table
    metrics: List[str] = field(default_factory=lambda: list(METRICS))  # shown when at least one system has them
    alpha: float = ranged(0.05, gt=0, lt=1, note="a significance level, e.g. 0.05")  # p < alpha gets a dagger
    # paired bootstrap resamples (sacrebleu PairedTest, COMET segment bootstrap)
    bootstrap_samples: int = ranged(1000, ge=1, note="1000 is usual")
    # bootstrap seed (passed to sacrebleu as SACREBLEU_SEED)
    seed: int = ranged(12345, ge=1, le=SEED_MAX, note="sacrebleu treats 0 as 'no fixed seed'")
    significance: bool = True
    allow_mixed: bool = False  # compare results of different datasets / splits / segment counts (with a warning)
    # named language groups for extra averages, e.g. {low: [bod_Tibt, dzo_Tibt]} (a direction belongs to the group of
    # its non-English side)
    groups: Dict[str, List[str]] = field(default_factory=dict)
    by_script: bool = True  # one average per script of the non-English side
    per_direction: str = "auto"  # direction columns in the terminal/LaTeX tables: auto (<= 12 directions) | yes | no
    plots: bool = True  # training curves from metrics.jsonl (train runs only)
    curves: List[str] = field(default_factory=lambda: list(DEFAULT_CURVES))  # metrics.jsonl keys (glob patterns)
    # training diagnostics (diag/* keys of metrics.jsonl): the table, and with `plots` the entropy / rarity
    # quintile panels
    diagnostics: bool = True
    # the alignment-tax table: systems with a `vepo eval suite=retention` result (docs/compare.md)
    alignment_tax: bool = True
    title: Optional[str] = None


@dataclass
class CompareConfig:
    runs: List[str] = field(default_factory=list)  # run / eval / Hydra multirun directories (glob patterns allowed)
    baseline: Optional[str] = None  # one of the systems' directories; None: the first system
    labels: Optional[List[str]] = None  # explicit row labels, one per system in order (None: differing overrides)
    compare: CompareSettings = field(default_factory=CompareSettings)
