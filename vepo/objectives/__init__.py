"""Policy objectives: advantages, aggregation, clipping helpers and the objective registry (pure torch, no TRL)."""

from vepo.objectives import grpo as _grpo  # noqa: F401  (registers grpo, dapo, dr_grpo)
from vepo.objectives.advantages import (
    ADVANTAGE_ESTIMATORS,
    compute_advantages,
    dr_grpo_advantages,
    frac_zero_std_groups,
    group_advantages,
)
from vepo.objectives.aggregation import AGGREGATION_MODES, aggregate
from vepo.objectives.base import Objective
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch
from vepo.objectives.registry import get_objective, list_objectives, register_objective

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AGGREGATION_MODES",
    "Objective",
    "ObjectiveOutput",
    "PolicyBatch",
    "aggregate",
    "compute_advantages",
    "dr_grpo_advantages",
    "frac_zero_std_groups",
    "get_objective",
    "group_advantages",
    "list_objectives",
    "register_objective",
]
