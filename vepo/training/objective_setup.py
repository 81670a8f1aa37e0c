"""Build the configured objective (cheap: imports only the pure-torch objectives package)."""

from __future__ import annotations

from typing import Any

from vepo.errors import VepoError
from vepo.objectives import get_objective
from vepo.objectives.registry import allowed_params


def build_objective(name: str, params: dict[str, Any], max_completion_length: int, vocab_size: int | None = None):
    """`get_objective(name, **params)`. Facts the run already knows are filled in unless the algo config sets
    them, so they can never disagree silently: L_max (`train.max_completion_length`) for objectives that normalise
    by it, and |V| (the policy tokenizer's size) for ESPO's entropy-adaptive clip."""
    params = dict(params)
    known = {"max_completion_length": max_completion_length, "vocab_size": vocab_size}
    try:
        allowed = allowed_params(name)
        for key, value in known.items():
            if key in allowed and params.get(key) is None and value is not None:
                params[key] = value
        return get_objective(name, **params)
    except (ValueError, TypeError) as exc:
        raise VepoError(f"config error: algo '{name}': {exc}") from None
