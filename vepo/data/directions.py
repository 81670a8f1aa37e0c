"""Direction order and the groups averaged over: all, into / out of the pivot (English), by script, user groups.
One grouping with one set of names for `vepo eval` summaries and `vepo compare` tables."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from vepo.data.languages import PIVOT, SCRIPT_NAMES, canonical_code, is_known, script_of


def split_direction(direction: str) -> tuple[str, str]:
    src, _, tgt = direction.partition("-")
    return src, tgt


def pivot_of(directions: list[str]) -> str:
    """English when any direction involves it, else the most frequent language (zho_Hans for china4-zh)."""
    codes = Counter(code for d in directions for code in split_direction(d))
    if PIVOT in codes or not codes:
        return PIVOT
    return codes.most_common(1)[0][0]


def other_side(direction: str, pivot: str) -> str:
    """The language a direction is about: the non-pivot side (the target when neither side is the pivot)."""
    src, tgt = split_direction(direction)
    return tgt if src == pivot else src if tgt == pivot else tgt


def ordered(directions: list[str], pivot: str) -> list[str]:
    """Grouped by language, out of the pivot before into it."""
    def key(d: str) -> tuple:
        src, tgt = split_direction(d)
        return other_side(d, pivot), 0 if src == pivot else 1 if tgt == pivot else 2, d

    return sorted(set(directions), key=key)


def short_code(code: str) -> str:
    return code.split("_", 1)[0]


def short_direction(direction: str, directions: list[str]) -> str:
    """'eng_Latn-bod_Tibt' -> 'eng→bod' when the language parts are unambiguous in this table, else full codes."""
    codes = {c for d in directions for c in split_direction(d)}
    unique = len({short_code(c) for c in codes}) == len(codes)
    src, tgt = split_direction(direction)
    return f"{short_code(src)}→{short_code(tgt)}" if unique else f"{src}→{tgt}"


@dataclass(frozen=True)
class Group:
    name: str
    directions: tuple[str, ...]  # every direction of the table that belongs to the group (missing ones included)


def _canon(code: str) -> str:
    return canonical_code(code) if is_known(code) else code


def average_groups(directions: list[str], pivot: str, by_script: bool,
                   user_groups: dict[str, list[str]]) -> list[Group]:
    """`all` first; built-in groups only when they hold a proper, non-empty subset (a group equal to `all` says
    nothing new)."""
    groups = [Group("all", tuple(directions))]
    p = short_code(pivot)
    candidates = [
        Group(f"xx→{p}", tuple(d for d in directions if split_direction(d)[1] == pivot)),
        Group(f"{p}→xx", tuple(d for d in directions if split_direction(d)[0] == pivot)),
    ]
    if by_script:
        scripts: dict[str, list[str]] = {}
        for d in directions:
            scripts.setdefault(script_of(other_side(d, pivot)), []).append(d)
        candidates += [Group(SCRIPT_NAMES.get(s, s) or "?", tuple(ds)) for s, ds in sorted(scripts.items())]
    groups += [g for g in candidates if g.directions and len(g.directions) < len(directions)]
    for name, codes in user_groups.items():  # the user asked for these: shown whenever they match a direction
        members = {_canon(c) for c in codes}
        chosen = tuple(d for d in directions if _canon(other_side(d, pivot)) in members)
        if chosen:
            groups.append(Group(str(name), chosen))
    return groups
