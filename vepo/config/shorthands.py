"""Command-line shorthands: `model=<HF id or path>` and `lang=<FLORES code>` for values that are not config-group
options. `model=Qwen/Qwen2.5-0.5B` becomes `model.path=Qwen/Qwen2.5-0.5B`; `lang=bod_Tibt` becomes
`lang.tgt=bod_Tibt`; sweeps (`lang=bod_Tibt,uig_Arab`) too. Group options (`model=tiny`, `lang=toy_Tibt`) stay."""

from __future__ import annotations

import re

from vepo.config.paths import config_dir

SHORTHANDS = {"model": "model.path", "lang": "lang.tgt"}
_PATTERN = re.compile(r"^(model|lang)=(.+)$")


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
        out.append(arg)
    return out
