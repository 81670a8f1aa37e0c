"""`vepo compare`'s checks: the config (before any job starts), then whether the comparison is meaningful:

Is the comparison meaningful? Same dataset and split, same segments, same metric parameters.

A hard mismatch raises VepoError (one line, exit 2); `compare.allow_mixed=true` turns dataset, split and segment
mismatches into warnings shown with the table. Metric parameters that differ (chrF++ nc/nw, BLEU tokenizer, ...)
are always an error: such scores are different metrics. A sacrebleu version difference alone is a warning.
"""

from __future__ import annotations

from collections import defaultdict

from omegaconf import DictConfig, OmegaConf

from vepo.config.compare import FORMATS, METRICS, CompareSettings
from vepo.config.ranges import check_ranges
from vepo.errors import VepoError
from vepo.reporting.results import System

STRICT_METRICS = ("chrf++", "spbleu")  # sacrebleu signatures whose parameters must match
_ALLOW = "pass compare.allow_mixed=true to compare anyway"


PER_DIRECTION = ("auto", "yes", "no", "true", "false")


def check_settings(s: CompareSettings) -> None:
    """Formats, metrics, and the numeric ranges declared in vepo/config/compare.py (the test's parameters)."""
    check_ranges(s, prefix="compare.")
    unknown = [f for f in s.formats if f not in FORMATS]
    if unknown:
        raise VepoError(f"compare.formats: unknown format {', '.join(unknown)}; allowed: {', '.join(FORMATS)}")
    unknown = [m for m in s.metrics if m not in METRICS]
    if unknown:
        raise VepoError(f"compare.metrics: unknown metric {', '.join(unknown)}; allowed: {', '.join(METRICS)}")
    if str(s.per_direction) not in PER_DIRECTION:
        raise VepoError(f"compare.per_direction={s.per_direction}: use one of {', '.join(PER_DIRECTION)}")


def check_compare_config(cfg: DictConfig) -> None:
    """Before any job starts: ranges, the settings, and that runs were named."""
    check_ranges(cfg)
    check_settings(OmegaConf.to_object(cfg).compare)
    if not cfg.runs:
        raise VepoError(
            "vepo compare needs runs: pass runs=[<dir>,<dir>,...] (run, eval or Hydra multirun "
            "directories) and optionally baseline=<dir>"
        )


def parse_signature(signature: str) -> dict[str, str]:
    """'nrefs:1|case:mixed|nc:6|...' -> {'nrefs': '1', 'case': 'mixed', 'nc': '6', ...}."""
    out = {}
    for part in signature.split("|"):
        key, _, value = part.partition(":")
        if key:
            out[key.strip()] = value.strip()
    return out


def _describe(by_value: dict[object, list[str]]) -> str:
    return "; ".join(f"{value}: {', '.join(labels)}" for value, labels in by_value.items())


def _mismatch(what: str, by_value: dict[object, list[str]], allow_mixed: bool, warnings: list[str]) -> None:
    message = f"systems were evaluated on different {what} ({_describe(by_value)})"
    if not allow_mixed:
        raise VepoError(f"{message}; scores are comparable only on the same data; {_ALLOW}")
    warnings.append(f"WARNING: {message}; compared anyway (compare.allow_mixed=true)")


def check_datasets(systems: list[System], allow_mixed: bool, warnings: list[str]) -> None:
    names, versions, splits = defaultdict(list), defaultdict(list), defaultdict(list)
    unknown = []
    for system in systems:
        for result in system.results.values():
            for table, value in ((names, result.dataset_name), (splits, result.split)):
                if system.label not in table[value]:
                    table[value].append(system.label)
            if result.dataset_version is None:
                if system.label not in unknown:
                    unknown.append(system.label)
            elif system.label not in versions[(result.dataset_name, result.dataset_version)]:
                versions[(result.dataset_name, result.dataset_version)].append(system.label)
    if len(names) > 1:
        _mismatch("datasets", names, allow_mixed, warnings)
    known = {f"{n} {v}": labels for (n, v), labels in versions.items()}
    if len(known) > 1:
        _mismatch("dataset versions", known, allow_mixed, warnings)
    if len(splits) > 1:
        _mismatch("splits", splits, allow_mixed, warnings)
    if unknown and (known or len(unknown) < len(systems)):
        warnings.append(f"dataset version not recorded for {', '.join(unknown)} (older result files); assumed equal")


def unpaired_directions(systems: list[System], allow_mixed: bool, warnings: list[str]) -> set[str]:
    """Directions whose systems did not translate the same segments (no paired test possible there)."""
    by_direction: dict[str, list] = defaultdict(list)
    for system in systems:
        for direction, result in system.results.items():
            by_direction[direction].append((system.label, result))
    unpaired = set()
    for direction, entries in by_direction.items():
        counts = defaultdict(list)
        for label, result in entries:
            counts[result.n_segments].append(label)
        refs = {tuple(r.references) for _, r in entries if r.references is not None}
        if len(counts) > 1:
            _mismatch(f"segment counts for {direction}", counts, allow_mixed, warnings)
            unpaired.add(direction)
        elif len(refs) > 1:
            _mismatch(f"references for {direction}", {"differ": [label for label, _ in entries]}, allow_mixed,
                      warnings)
            unpaired.add(direction)
    return unpaired


def check_signatures(systems: list[System], warnings: list[str]) -> None:
    """Same metric parameters everywhere; report version-only differences once per metric."""
    for metric in ("chrf++", "spbleu", "comet"):
        signatures: dict[str, list[str]] = defaultdict(list)
        for system in systems:
            for result in system.results.values():
                score = result.metrics.get(metric)
                if score is not None and system.label not in signatures[score.signature]:
                    signatures[score.signature].append(system.label)
        if len(signatures) < 2:
            continue
        if metric not in STRICT_METRICS:
            warnings.append(f"WARNING: {metric} signatures differ ({_describe(signatures)}); check that the same "
                            f"model scored every system")
            continue
        params = defaultdict(list)
        for signature, labels in signatures.items():
            key = "|".join(f"{k}:{v}" for k, v in parse_signature(signature).items() if k != "version")
            params[key].extend(labels)
        if len(params) > 1:
            raise VepoError(f"{metric} was computed with different parameters ({_describe(params)}); these are "
                            f"different metrics: rescore with one setting")
        versions = sorted({parse_signature(s).get("version", "?") for s in signatures})
        warnings.append(f"WARNING: {metric} signatures differ only in sacrebleu version ({', '.join(versions)})")
