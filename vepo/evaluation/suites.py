"""Direction suites: plain config files (conf/suite/<name>.yaml) expanded into validated (src, tgt) directions."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import OmegaConf

from vepo.config.paths import config_dir
from vepo.config.schema import SuiteConfig
from vepo.data.languages import PIVOT, canonical_code
from vepo.errors import VepoError

KINDS = ("translation", "retention")


@dataclass(frozen=True)
class Direction:
    src: str
    tgt: str

    @property
    def name(self) -> str:
        return f"{self.src}-{self.tgt}"

    @property
    def into_english(self) -> bool:
        return self.tgt == PIVOT

    @property
    def out_of_english(self) -> bool:
        return self.src == PIVOT

    @classmethod
    def parse(cls, text: str) -> "Direction":
        parts = text.split("-")
        if len(parts) != 2 or not all(parts):
            raise VepoError(f"direction '{text}' is not '<src>-<tgt>' (e.g. eng_Latn-bod_Tibt)")
        return cls(parts[0], parts[1])


def available_suites() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "suite").glob("*.yaml"))


def load_suite(name: str) -> SuiteConfig:
    """A suite by name (conf/suite/<name>.yaml) as a typed SuiteConfig."""
    path = config_dir() / "suite" / f"{name}.yaml"
    if not path.is_file():
        raise VepoError(f"unknown suite '{name}'; available: {', '.join(available_suites())} (or "
                        f"suite=custom suite.directions=[src-tgt,...])")
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SuiteConfig), OmegaConf.load(path)))


def suite_from_spec(spec: str) -> SuiteConfig:
    """A suite name, or directions written inline: `eng_Latn-bod_Tibt,bod_Tibt-eng_Latn`."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if parts and all("-" in p for p in parts):
        toy = any(p.split("-")[-1].startswith("toy_") or p.startswith("toy_") for p in parts)
        return SuiteConfig(name="inline", pivot=None, directions=parts, dataset="toy" if toy else None)
    return load_suite(spec)


def _code(code: str, toy: bool) -> str:
    if toy and code.startswith("toy_"):
        return code
    return canonical_code(code)


def expand_suite(suite: SuiteConfig) -> list[Direction]:
    """Explicit directions first, then pivot pairs, duplicates removed, codes canonical (aliases resolved)."""
    if suite.kind not in KINDS:
        raise VepoError(f"suite.kind='{suite.kind}' is not one of {', '.join(KINDS)}")
    toy = suite.dataset == "toy"
    found = [Direction.parse(d) for d in suite.directions]
    if suite.langs:
        if not suite.pivot:
            raise VepoError(f"suite '{suite.name}' lists langs but no pivot; set suite.pivot (e.g. eng_Latn)")
        for lang in suite.langs:
            found.append(Direction(suite.pivot, lang))
            if suite.both_ways:
                found.append(Direction(lang, suite.pivot))
    directions, seen = [], set()
    for d in found:
        d = Direction(_code(d.src, toy), _code(d.tgt, toy))
        if d.src == d.tgt:
            raise VepoError(f"suite '{suite.name}': direction {d.name} translates a language into itself")
        if d not in seen:
            seen.add(d)
            directions.append(d)
    if suite.kind == "translation" and not directions:
        raise VepoError(f"suite '{suite.name}' has no directions; set suite.directions=[src-tgt,...] or "
                        f"suite.langs=[...]")
    return directions
