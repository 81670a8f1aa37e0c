"""DAPO's soft overlong penalty (docs/design/algorithms.md "Baselines"), a reward added to the mix with weight 1.

0 while |y| ≤ L_max − L_c; ((L_max − L_c) − |y|) / L_c within the last L_c tokens; −1 beyond (a truncated
completion has |y| = L_max and gets exactly −1).
"""

from __future__ import annotations


class OverlongPenalty:
    __name__ = "overlong"

    def __init__(self, max_completion_length: int, cache_ratio: float = 0.25) -> None:
        self.max_len = int(max_completion_length)
        self.cache = max(1, round(cache_ratio * self.max_len))

    def penalty(self, length: int) -> float:
        free = self.max_len - self.cache
        if length <= free:
            return 0.0
        if length <= self.max_len:
            return (free - length) / self.cache
        return -1.0

    def __call__(self, prompts, completions, completion_ids, **kwargs) -> list[float]:
        return [self.penalty(len(ids)) for ids in completion_ids]
