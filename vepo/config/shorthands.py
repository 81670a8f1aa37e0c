"""Command-line shorthands: `model=<HF id or path>` and `lang=<FLORES code>` for values that are not config-group
options. `model=Qwen/Qwen2.5-0.5B` becomes `model.path=Qwen/Qwen2.5-0.5B`; `lang=bod_Tibt` becomes
`lang.tgt=bod_Tibt`; sweeps (`lang=bod_Tibt,uig_Arab`) too. Group options (`model=tiny`, `lang=toy_Tibt`) stay.

`algo.params.<key>=<value>` becomes `++algo.params.<key>=<value>`: conf/algo/*.yaml list only the params that differ
from the objective's code defaults, so most keys are absent from the composed config and Hydra would otherwise demand
a `+`. The objective's constructor still rejects unknown keys (check_train_config)."""

from __future__ import annotations

import re

from vepo.config.paths import config_dir

SHORTHANDS = {"model": "model.path", "lang": "lang.tgt"}
_PATTERN = re.compile(r"^(model|lang)=(.+)$")
_ALGO_PARAM = re.compile(r"^algo\.params\.[^=]+=")


def _options(group: str) -> set[str]:
    return {p.stem for p in (config_dir() / group).glob("*.yaml")}


def expand_shorthands(args: list[str]) -> list[str]:
    out = []
    for arg in args:
        match = _PATTERN.match(arg)
        if match:
            group, value = match.groups()
            options = _options(group)
            values = value.split(",")
            if not any(v in options for v in values):
                arg = f"{SHORTHANDS[group]}={value}"
        elif _ALGO_PARAM.match(arg):
            arg = "++" + arg
        out.append(arg)
    return out
