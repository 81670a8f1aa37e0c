"""COMET (reference-based COMET-22 or reference-free COMET-Kiwi) as a reward component of the mix."""

from __future__ import annotations

from vepo.rewards.base import Item, RewardComponent
from vepo.models.comet.scorer import get_comet_scorer


class CometComponent(RewardComponent):
    """Segment COMET scores, batched through one cached scorer per (model, device); clipped to [0, 1].

    Gate it with a target-script check (reward preset `comet`): COMET scores untranslated copies of the source
    highly (docs/design/evaluation.md)."""

    name = "comet"
    needs_source = True

    def __init__(self, model: str = "Unbabel/wmt22-comet-da", device: str = "cpu", batch_size: int = 32) -> None:
        super().__init__()
        # Loaded now, so a model that cannot be loaded fails at start-up, not mid-training.
        self.scorer = get_comet_scorer(model, device=device, batch_size=batch_size)
        self.needs_reference = self.scorer.requires_references

    def _score_items(self, items: list[Item]) -> list[float]:
        refs = [it.reference for it in items] if self.needs_reference else None
        return self.scorer.score([it.source for it in items], [it.hypothesis for it in items], refs)
