"""Reward functions by name (the rewards issue grows this into the full mixer)."""

from __future__ import annotations

from typing import Callable

from vepo.errors import VepoError
from vepo.rewards.chrf import ChrfReward

REWARDS: dict[str, Callable[[], object]] = {"chrf": ChrfReward}


def check_reward_weights(weights: dict[str, float]) -> None:
    unknown = sorted(set(weights) - set(REWARDS))
    if unknown:
        raise VepoError(f"reward.weights: unknown reward '{unknown[0]}'; available: {', '.join(sorted(REWARDS))}")
    names = [n for n, w in weights.items() if w != 0]
    if not names:
        raise VepoError("reward.weights: every weight is 0; give at least one reward a non-zero weight")


def build_rewards(weights: dict[str, float]) -> tuple[list[object], list[float]]:
    """Instantiate the weighted reward components: (TRL reward functions, weights)."""
    check_reward_weights(weights)
    names = [n for n, w in weights.items() if w != 0]
    return [REWARDS[n]() for n in names], [float(weights[n]) for n in names]
