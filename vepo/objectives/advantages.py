"""Advantage estimators: the names an objective may ask for (`Needs.advantage`), each mapped to the TRL
`GRPOConfig.scale_rewards` value that computes it. TRL's GRPOTrainer computes the advantages training uses; vepo keeps
no second implementation, so there is nothing to drift (docs/objectives.md "Advantages").

With R laid out group after group (G consecutive completions of one prompt):

    group    Â = (R − mean_g) / (std_g + 1e-4), std unbiased (Bessel)    scale_rewards="group"
    dr_grpo  Â = R − mean_g (no std division)                            scale_rewards="none"

NaN rewards (unscorable) are left out of the group statistics and get Â = 0. tests/test_trl_golden.py pins TRL's
numbers to these formulas.
"""

from __future__ import annotations

ADVANTAGE_ESTIMATORS: dict[str, str] = {"group": "group", "dr_grpo": "none"}
