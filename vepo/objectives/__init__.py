"""Policy objectives: aggregation, clipping helpers, advantage-estimator names and the registry (pure torch, no TRL)."""

from vepo.objectives import grpo as _grpo  # noqa: F401  (registers grpo, dapo, dr_grpo)
from vepo.objectives import gspo as _gspo  # noqa: F401  (registers gspo)
from vepo.objectives import espo as _espo  # noqa: F401  (registers espo)
from vepo.objectives import egspo as _egspo  # noqa: F401  (registers egspo)
from vepo.objectives import vepo_objective as _vepo_objective  # noqa: F401  (registers vepo)
from vepo.objectives import dppo as _dppo  # noqa: F401  (registers dppo_binary_tv/_kl, dppo_topk_tv/_kl)
from vepo.objectives import dppo_av as _dppo_av  # noqa: F401  (registers dppo_av)
from vepo.objectives.advantages import ADVANTAGE_ESTIMATORS
from vepo.objectives.aggregation import AGGREGATION_MODES, aggregate
from vepo.objectives.base import Objective
from vepo.objectives.batch import ObjectiveOutput, PolicyBatch, TokenStats
from vepo.objectives.needs import Needs
from vepo.objectives.registry import get_objective, list_objectives, register_objective

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AGGREGATION_MODES",
    "Objective",
    "Needs",
    "ObjectiveOutput",
    "PolicyBatch",
    "TokenStats",
    "aggregate",
    "get_objective",
    "list_objectives",
    "register_objective",
]
