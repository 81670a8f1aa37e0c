"""Build the configured objective (cheap: imports only the pure-torch objectives package)."""

from __future__ import annotations

from typing import Any

from vepo.errors import VepoError
from vepo.objectives import get_objective
from vepo.objectives.registry import allowed_params


def build_objective(name: str, params: dict[str, Any], max_completion_length: int):
    """`get_objective(name, **params)`; objectives that normalise by L_max get `train.max_completion_length`
    unless the algo config sets it, so the two can never disagree silently."""
    params = dict(params)
    try:
        if "max_completion_length" in allowed_params(name) and params.get("max_completion_length") is None:
            params["max_completion_length"] = max_completion_length
        return get_objective(name, **params)
    except (ValueError, TypeError) as exc:
        raise VepoError(f"config error: algo '{name}': {exc}") from None
