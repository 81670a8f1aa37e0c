"""VEPO's variable reward balance: the weight on the semantic term vs literal fidelity over training (docs/design/algorithms.md).

    constant:         w_sem = weight
    linear:           w_sem goes from start to end over the run's optimiser steps
    entropy_coupled:  w_sem = w_min + (w_max − w_min) · clamp(H̄ / H_0, 0, 1), H_0 = the first step's mean entropy

The literal term gets 1 − w_sem. The trainer drives the schedule: the step comes with each reward call, the entropy
after each optimiser step (`observe_entropy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vepo.config.schema import BalanceConfig

SCHEDULES = ("none", "constant", "linear", "entropy_coupled")


@dataclass
class BalanceSchedule:
    """The runtime side of `reward.balance`: the config (BalanceConfig, the one definition of the schedule's fields
    and defaults) plus the entropy it has observed (checkpointed by the trainer)."""

    config: BalanceConfig = field(default_factory=BalanceConfig)
    state: dict = field(default_factory=lambda: {"H0": None, "entropy": None})

    def __post_init__(self) -> None:
        c = self.config
        if c.schedule not in SCHEDULES:
            raise ValueError(f"unknown balance schedule {c.schedule!r}; allowed: {', '.join(SCHEDULES)}")
        for name in ("weight", "start", "end", "w_min", "w_max"):
            value = getattr(c, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"balance.{name} must be in [0, 1], got {value!r}")

    @property
    def active(self) -> bool:
        return self.config.schedule != "none"

    def observe_entropy(self, entropy: float | None) -> None:
        if entropy is None or not math.isfinite(entropy):
            return
        if self.state["H0"] is None and entropy > 0:
            self.state["H0"] = float(entropy)
        self.state["entropy"] = float(entropy)

    def semantic_weight(self, step: int = 0, total_steps: int | None = None) -> float:
        c = self.config
        if c.schedule == "constant":
            return c.weight
        if c.schedule == "linear":
            frac = 0.0 if not total_steps else min(max(step / total_steps, 0.0), 1.0)
            return c.start + (c.end - c.start) * frac
        if c.schedule == "entropy_coupled":
            h0, h = self.state["H0"], self.state["entropy"]
            ratio = 1.0 if h0 is None or h is None else min(max(h / h0, 0.0), 1.0)
            return c.w_min + (c.w_max - c.w_min) * ratio
        raise ValueError("schedule 'none' has no semantic weight")
