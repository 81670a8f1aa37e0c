"""Loading result files (`results/<src>-<tgt>.json`, `results/rl.json`, ...) into one record per direction.

Tolerant of the older stage files: `dataset` may be a plain name (version unknown), and when `references` are
missing they are read back from the FLORES directory the run used (so significance can still be recomputed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from vepo.errors import VepoError
from vepo.reporting.discover import SystemDir
from vepo.config.runinfo import resolved_config, select


@dataclass
class MetricScore:
    score: float
    signature: str = ""
    flagged: bool = False  # COMET: target language not covered by the encoder


@dataclass
class DirectionResult:
    path: Path
    direction: str
    src: str
    tgt: str
    split: str
    n_segments: int
    dataset_name: str
    dataset_version: Optional[str]  # None: the file did not say
    metrics: dict[str, MetricScore]
    segments: dict[str, list[float]]
    hypotheses: list[str]
    references: Optional[list[str]] = None
    notes: list[str] = field(default_factory=list)


@dataclass
class System:
    dir: SystemDir
    results: dict[str, DirectionResult]  # by direction
    config: dict[str, Any]
    label: str = ""

    @property
    def path(self) -> Path:
        return self.dir.path


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VepoError(f"{path}: not a readable result file ({exc}); rerun the evaluation that wrote it") from None
    if not isinstance(data, dict):
        raise VepoError(f"{path}: a result file holds one JSON object, found {type(data).__name__}")
    return data


def _dataset(raw: Any) -> tuple[str, Optional[str], Optional[str]]:
    """(name, version, root) from the new dict form or the older plain-string form."""
    if isinstance(raw, dict):
        version = raw.get("version")
        return str(raw.get("name", "unknown")), (None if version is None else str(version)), raw.get("root")
    return (str(raw) if raw else "unknown"), None, None


def _metrics(path: Path, raw: Any) -> dict[str, MetricScore]:
    if not isinstance(raw, dict) or "chrf++" not in raw:
        raise VepoError(f"{path}: no metrics.chrf++ entry; this is not a vepo result file")
    out = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("score"), (int, float)):
            raise VepoError(f"{path}: metrics.{name} needs a numeric 'score'")
        out[name] = MetricScore(float(entry["score"]), str(entry.get("signature", "")), bool(entry.get("flagged")))
    return out


def load_result(path: Path) -> tuple[DirectionResult, Optional[str]]:
    """One result file; also returns the FLORES root it names (None for older files)."""
    data = _load_json(path)
    src, tgt = data.get("src"), data.get("tgt")
    if (not src or not tgt) and isinstance(data.get("direction"), str) and "-" in data["direction"]:
        src, tgt = data["direction"].split("-", 1)
    if not src or not tgt:
        raise VepoError(f"{path}: no 'src'/'tgt' (or 'direction') keys; this is not a vepo result file")
    hypotheses = data.get("hypotheses")
    if not isinstance(hypotheses, list):
        raise VepoError(f"{path}: no 'hypotheses' list; rerun the evaluation with a current vepo")
    n = int(data.get("n_segments", len(hypotheses)))
    references = data.get("references")
    for name, values in (("hypotheses", hypotheses), ("references", references)):
        if values is not None and len(values) != n:
            raise VepoError(f"{path}: {len(values)} {name} but n_segments={n}")
    segments = {k: [float(x) for x in v] for k, v in (data.get("segments") or {}).items() if isinstance(v, list)}
    name, version, root = _dataset(data.get("dataset"))
    result = DirectionResult(
        path=path, direction=f"{src}-{tgt}", src=str(src), tgt=str(tgt), split=str(data.get("split", "devtest")),
        n_segments=n, dataset_name=name, dataset_version=version, metrics=_metrics(path, data.get("metrics")),
        segments=segments, hypotheses=[str(h) for h in hypotheses],
        references=None if references is None else [str(r) for r in references],
        notes=[str(x) for x in data.get("notes", [])],
    )
    return result, root


def _flores_candidates(run_dir: Path, config: dict, recorded_root: Optional[str]) -> list[Path]:
    """Where the run's FLORES text may be: the root the result names, `data.flores_dir`, the toy layout."""
    roots = [recorded_root, select(config, "data.flores_dir"), run_dir / "data" / "flores"]
    return [Path(r).expanduser() for r in roots if r]


def _read_references(result: DirectionResult, candidates: list[Path]) -> Optional[list[str]]:
    from vepo.data.flores import open_flores

    for root in candidates:
        if not root.is_dir():
            continue
        try:
            refs = open_flores(root).read(result.split, result.tgt)
        except VepoError:
            continue
        if len(refs) >= result.n_segments:  # max_segments evaluates the first N lines
            return refs[: result.n_segments]
    return None


def load_system(system_dir: SystemDir) -> System:
    config = resolved_config(system_dir.path)
    results: dict[str, DirectionResult] = {}
    for path in system_dir.result_files:
        result, root = load_result(path)
        if result.direction in results:
            raise VepoError(f"{system_dir.path}: two result files for {result.direction} "
                            f"({results[result.direction].path.name}, {path.name})")
        if result.references is None:
            result.references = _read_references(result, _flores_candidates(system_dir.path, config, root))
            if result.references is None:
                result.notes.append("references missing from the result file and not found in the run's FLORES "
                                    "directory")
        results[result.direction] = result
    return System(dir=system_dir, results=results, config=config)
