"""The reward mix R = Π gates × Σ w_k · R_k, and its TRL reward-function face.

Gates and terms are components in [0, 1] (vepo/rewards/base.py). With a balance schedule (VEPO), the semantic term
gets w_sem and the literal term 1 − w_sem each step instead of their configured weights. Every component's mean and
std is logged as `reward/<name>/mean|std`, the gate product as `reward/gate/mean`, the schedule's weight as
`reward/weight/<term>`, and a component's `logged_rates` warnings as per-batch rates `reward/<name>/<suffix>` (the
lid gate's share of unsupported target languages: `reward/lid/unsupported`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from vepo.config.schema import RewardConfig
from vepo.errors import VepoError
from vepo.rewards.registry import build_component, check_reward_type
from vepo.rewards.schedules import BalanceSchedule


@dataclass
class RewardMix:
    terms: dict[str, Any]
    weights: dict[str, float]
    gates: dict[str, Any] = field(default_factory=dict)
    balance: BalanceSchedule = field(default_factory=BalanceSchedule)
    # Called as observe(step, sources, hypotheses, references, rewards) after each training batch is scored
    # (W&B sample tables); they must not raise.
    observers: list[Any] = field(default_factory=list)

    # The balanced term names come from the schedule's config (reward.balance), not a second copy here.
    @property
    def semantic_term(self) -> str:
        return self.balance.config.semantic_term

    @property
    def literal_term(self) -> str:
        return self.balance.config.literal_term

    def current_weights(self, step: int = 0, total_steps: int | None = None) -> dict[str, float]:
        weights = dict(self.weights)
        if self.balance.active:
            w_sem = self.balance.semantic_weight(step, total_steps)
            weights[self.semantic_term], weights[self.literal_term] = w_sem, 1.0 - w_sem
        return weights

    def score(self, sources, hypotheses, references, src_langs, tgt_langs, step: int = 0,
              total_steps: int | None = None) -> tuple[list[float], dict[str, list[float]], dict[str, float]]:
        """(total reward per segment, each component's scores, the weights used)."""
        parts: dict[str, list[float]] = {}
        for name, comp in {**self.gates, **self.terms}.items():
            parts[name] = [float(x) for x in comp.score_batch(sources, hypotheses, references, src_langs, tgt_langs)]
        weights = self.current_weights(step, total_steps)
        n = len(hypotheses)
        gate = [1.0] * n
        for name in self.gates:
            gate = [g * x for g, x in zip(gate, parts[name])]
        total = [gate[i] * sum(weights[t] * parts[t][i] for t in self.terms) for i in range(n)]
        parts["gate"] = gate
        return total, parts, weights

    def observe_entropy(self, entropy: float | None) -> None:
        self.balance.observe_entropy(entropy)

    def warnings(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, comp in {**self.gates, **self.terms}.items():
            for reason, k in getattr(comp, "warnings", {}).items():
                counts[f"{name}/{reason}"] = counts.get(f"{name}/{reason}", 0) + k
        return counts


def check_reward_config(cfg: RewardConfig) -> None:
    """Cheap validation (no model loads): types exist, the balance names real terms."""
    if not cfg.terms:
        raise VepoError("config error: reward.terms is empty; give at least one reward term")
    for group, entries in (("terms", cfg.terms), ("gates", cfg.gates)):
        for name, term in entries.items():
            check_reward_type(f"reward.{group}.{name}", term.type)
    try:
        BalanceSchedule(cfg.balance)
    except ValueError as exc:
        raise VepoError(f"config error: reward.balance: {exc}") from None
    if cfg.balance.schedule != "none":
        for key in ("semantic_term", "literal_term"):
            if getattr(cfg.balance, key) not in cfg.terms:
                raise VepoError(f"config error: reward.balance.{key}='{getattr(cfg.balance, key)}' is not a term; "
                                f"terms: {', '.join(cfg.terms)}")


def build_reward_mix(cfg: RewardConfig, device: str = "cpu") -> RewardMix:
    check_reward_config(cfg)
    device = device if cfg.device == "policy" else cfg.device
    terms = {n: build_component(f"reward.terms.{n}", t.type, t.params, device) for n, t in cfg.terms.items()}
    gates = {n: build_component(f"reward.gates.{n}", t.type, t.params, device) for n, t in cfg.gates.items()}
    return RewardMix(terms=terms, weights={n: float(t.weight) for n, t in cfg.terms.items()}, gates=gates,
                     balance=BalanceSchedule(cfg.balance))


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return (statistics.fmean(xs), statistics.pstdev(xs)) if xs else (0.0, 0.0)


class MixedRewardFunction:
    """TRL reward function: dataset columns `src`, `ref`, `src_lang`, `tgt_lang` come in as keyword arguments."""

    __name__ = "reward"

    def __init__(self, mix: RewardMix, total_steps: int | None = None) -> None:
        self.mix = mix
        self.total_steps = total_steps

    def __call__(self, prompts, completions, src=None, ref=None, src_lang=None, tgt_lang=None, log_metric=None,
                 trainer_state=None, **kwargs) -> list[float]:
        n = len(completions)
        # Raw completions: components clean them themselves, and FormatCheck must see extra lines and markup.
        hyps = [c if isinstance(c, str) else "" for c in completions]
        src, ref = src or [""] * n, ref or [None] * n
        src_lang, tgt_lang = src_lang or [""] * n, tgt_lang or [""] * n
        step = getattr(trainer_state, "global_step", 0) or 0
        # Components may name warnings to log as a per-batch rate (the lid gate: unsupported_language -> unsupported).
        rated = {name: comp for name, comp in {**self.mix.gates, **self.mix.terms}.items()
                 if getattr(comp, "logged_rates", None)}
        before = {name: dict(comp.warnings) for name, comp in rated.items()}
        total, parts, weights = self.mix.score(src, hyps, ref, src_lang, tgt_lang, step, self.total_steps)
        for observe in self.mix.observers:
            observe(step, src, hyps, ref, total)
        if log_metric is not None:
            for name, values in parts.items():
                mean, std = _mean_std(values)
                log_metric(f"reward/{name}/mean", mean)
                log_metric(f"reward/{name}/std", std)
            for name, comp in rated.items():
                for reason, suffix in comp.logged_rates.items():
                    fired = comp.warnings[reason] - before[name].get(reason, 0)
                    log_metric(f"reward/{name}/{suffix}", fired / max(1, n))
            if self.mix.balance.active:
                for name in (self.mix.semantic_term, self.mix.literal_term):
                    log_metric(f"reward/weight/{name}", weights[name])
        return total
