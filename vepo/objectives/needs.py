"""What an objective asks of the trainer, declared in one place (`Objective.needs()`).

The trainer and the RL stage read this record and nothing else about an objective: which advantage estimator fills
PolicyBatch.advantages, which extra passes to run and which PolicyBatch fields to fill.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Needs:
    advantage: str = "group"  # key of ADVANTAGE_ESTIMATORS: how sequence advantages are computed
    ref_logp: bool = False  # reference-model log-probs (a k3 KL penalty with β > 0): the trainer runs the ref model
    entropy: bool = False  # per-token entropy of πθ is part of the loss (it is always filled for diagnostics)
    entropy_grad: bool = False  # ... and it must carry gradient (an entropy bonus that changes the update)
    rollout_topk: int | None = None  # K: the rollout policy's top-K log-probs (and the current ones at those ids)
    reference_tokens: bool = False  # reference translations scored by the current policy (sft_logp / sft_mask)
    token_rarity: bool = False  # the token-rarity table of the training targets (set_token_rarity)
