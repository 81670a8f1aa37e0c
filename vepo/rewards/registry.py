"""Reward components by type name. Factories import lazily, so validating a config stays cheap."""

from __future__ import annotations

from typing import Any, Callable

from vepo.errors import VepoError


def _chrf(**p):
    from vepo.rewards.literal import ChrfComponent
    return ChrfComponent(**p)


def _bleu(**p):
    from vepo.rewards.literal import BleuComponent
    return BleuComponent(**p)


def _semantic(**p):
    from vepo.rewards.semantic import SemanticSimilarity
    return SemanticSimilarity(**p)


def _comet(**p):
    from vepo.rewards.comet import CometComponent
    return CometComponent(**p)


def _lid(**p):
    from vepo.rewards.language_id import LanguageID
    return LanguageID(**p)


def _constraint(class_name: str) -> Callable[..., Any]:
    def factory(**p):
        from vepo.rewards import constraints
        return getattr(constraints, class_name)(**p)
    return factory


REWARDS: dict[str, Callable[..., Any]] = {
    "chrf": _chrf,
    "bleu": _bleu,
    "semantic": _semantic,
    "comet": _comet,
    "length_ratio": _constraint("LengthRatio"),
    "format": _constraint("FormatCheck"),
    "script": _constraint("ScriptShare"),
    "copy": _constraint("CopyPenalty"),
    "repetition": _constraint("Repetition"),
    "language": _constraint("LanguageConsistency"),
    "lid": _lid,
}
# Components that hold a model: they take the reward device.
MODEL_REWARDS = {"semantic", "comet"}


def list_rewards() -> list[str]:
    return sorted(REWARDS)


def check_reward_type(where: str, type_name: str) -> None:
    if type_name not in REWARDS:
        raise VepoError(f"config error: {where}.type='{type_name}' is not a reward; available: "
                        f"{', '.join(list_rewards())}")


def build_component(where: str, type_name: str, params: dict[str, Any], device: str):
    """Instantiate one component; bad parameters are a one-line config error."""
    check_reward_type(where, type_name)
    params = dict(params)
    if type_name in MODEL_REWARDS:
        params.setdefault("device", device)
    try:
        return REWARDS[type_name](**params)
    except TypeError as exc:
        raise VepoError(f"config error: {where}.params: {exc}") from None
