"""Allowed ranges of numeric config values: declared next to each schema field, checked by one walker.

A numeric field of a schema dataclass is written `steps: int = ranged(160, ge=0, note="0 skips it")`: the range
lives in the field's metadata (Hydra and OmegaConf ignore it), so the schema stays the one place that says what a
value may be. `check_ranges(config)` walks a composed config (or the dataclass object a job receives) and raises a
one-line VepoError for the first value outside its range; every command's check function calls it before any work.
`unranged_numeric_fields` lets a test insist that every numeric field declares a range.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Iterator

from omegaconf import DictConfig, OmegaConf

from vepo.errors import VepoError

RANGE_KEY = "vepo_range"
SEED_MAX = 2**32 - 1  # numpy's seeds (transformers.set_seed seeds numpy too)


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric value: ge/gt below, le/lt above (None: unbounded); `note` explains the bound."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    note: str = ""

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return not ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                    or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))

    def describe(self) -> str:
        low = f"[{_num(self.ge)}" if self.ge is not None else f"({_num(self.gt)}" if self.gt is not None else None
        high = f"{_num(self.le)}]" if self.le is not None else f"{_num(self.lt)})" if self.lt is not None else None
        if low and high:
            return f"in {low}, {high}"
        if low:
            return (">= " if low[0] == "[" else "> ") + low[1:]
        if high:
            return ("<= " if high[-1] == "]" else "< ") + high[:-1]
        return "a finite number"

    def outside(self) -> float | None:
        """A value just outside the range (tests use it); None when unbounded."""
        for bound, step in ((self.ge, -1), (self.gt, 0), (self.le, 1), (self.lt, 0)):
            if bound is not None:
                return bound + step
        return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def ranged(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None, note: str = "") -> Any:
    """A dataclass field with `default` and its allowed range (no bounds: any finite number, said explicitly)."""
    return field(default=default, metadata={RANGE_KEY: Range(ge=ge, gt=gt, le=le, lt=lt, note=note)})


def seed_field(default: int, note: str = "") -> Any:
    return ranged(default, ge=0, le=SEED_MAX, note=note)


def range_of(f) -> Range | None:
    return f.metadata.get(RANGE_KEY)


def ranged_values(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any, Range]]:
    """(dotted key, value, range) of every ranged field under a schema object, through nested dataclasses and
    dicts of dataclasses (reward.terms.<name>.weight)."""
    for f in fields(obj):
        value, key = getattr(obj, f.name), prefix + f.name
        rng = range_of(f)
        if rng is not None:
            yield key, value, rng
        elif is_dataclass(value):
            yield from ranged_values(value, key + ".")
        elif isinstance(value, dict):
            for name, item in value.items():
                if is_dataclass(item):
                    yield from ranged_values(item, f"{key}.{name}.")


def check_ranges(config: Any, prefix: str = "") -> None:
    """Raise VepoError (one line: key, value, allowed range) for the first numeric value outside its range;
    `config` is a composed config or a schema object (whose keys then start with `prefix`)."""
    obj = OmegaConf.to_object(config) if isinstance(config, DictConfig) else config
    for key, value, rng in ranged_values(obj, prefix):
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue  # null where the schema allows it; types are Hydra's job
        if not rng.contains(value):
            note = f" ({rng.note})" if rng.note else ""
            raise VepoError(f"config error: {key}={value} must be {rng.describe()}{note}")


def _numeric(tp: Any) -> bool:
    options = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    return any(t in (int, float) for t in options)


def _nested_schemas(tp: Any) -> list[type]:
    """Dataclass types inside a field's type: the type itself, Optional[...] or a Dict/List of them."""
    if isinstance(tp, type) and is_dataclass(tp):
        return [tp]
    return [s for arg in typing.get_args(tp) for s in _nested_schemas(arg)]


def unranged_numeric_fields(schema: type, prefix: str = "") -> list[str]:
    """Numeric (int / float, optional or not) fields under `schema` that declare no range."""
    hints = typing.get_type_hints(schema)
    missing = []
    for f in fields(schema):
        tp = hints[f.name]
        if _numeric(tp) and range_of(f) is None:
            missing.append(prefix + f.name)
        for nested in _nested_schemas(tp):
            missing += unranged_numeric_fields(nested, f"{prefix}{f.name}.")
    return missing
