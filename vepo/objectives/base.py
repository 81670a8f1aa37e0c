"""Shared base class of all objectives.

An objective is a dataclass whose init fields are its hyperparameters (config keys map to them one to one) and whose
instances are callables batch -> ObjectiveOutput. `needs()` declares what the trainer must put in the batch.
Controller objectives (VEPO's λ) keep mutable state in `.state` (checkpointed by the trainer) and update it in
`on_step_end`, with metrics the trainer has already averaged over all processes.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vepo.objectives.advantages import ADVANTAGE_ESTIMATORS
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch
from vepo.objectives.needs import Needs


@dataclass
class Objective:
    # Which estimator (key of ADVANTAGE_ESTIMATORS) the trainer must use to fill PolicyBatch.advantages.
    advantage: str = "group"
    # Controller state; empty for stateless objectives. Not a hyperparameter (init=False).
    state: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.advantage not in ADVANTAGE_ESTIMATORS:
            raise ValueError(
                f"unknown advantage estimator {self.advantage!r}; allowed: {', '.join(sorted(ADVANTAGE_ESTIMATORS))}"
            )

    def __call__(self, batch: PolicyBatch) -> ObjectiveOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def needs(self) -> Needs:
        """What the trainer must compute for this objective (the one place the trainer looks)."""
        return Needs(advantage=self.advantage)

    def on_step_end(self, metrics: dict[str, float]) -> None:
        """Called after each optimiser step with that step's metrics; stateless objectives do nothing."""

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the controller state, for checkpoints (empty for stateless objectives)."""
        return copy.deepcopy(self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore controller state saved by `state_dict` (deep-copied, so the caller's dict stays independent)."""
        self.state = copy.deepcopy(dict(state))

    def params(self) -> dict[str, Any]:
        """The hyperparameters (constructor kwargs) with their current values, for logging and result records."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
