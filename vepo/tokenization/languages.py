"""Which FLORES languages `vepo tokenize-stats` measures: `langs=all`, a suite name, or an explicit list of codes."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vepo.config.paths import config_dir
from vepo.data.flores import FloresDataset
from vepo.data.languages import canonical_code, is_known
from vepo.errors import VepoError


def _suite_dir() -> Path:
    return config_dir() / "suite"


def suite_names() -> list[str]:
    return sorted(p.stem for p in _suite_dir().glob("*.yaml"))


def suite_languages(name: str) -> list[str]:
    """Codes of a direction suite (conf/suite/<name>.yaml): its pivot, `langs` and both sides of `directions`."""
    path = _suite_dir() / f"{name}.yaml"
    if not path.is_file():
        raise VepoError(f"langs='{name}' is neither a suite nor a language code; suites: "
                        f"{', '.join(suite_names()) or '(none)'}; or pass langs=all or langs=[bod_Tibt,...]")
    try:
        suite = OmegaConf.load(path)
    except (OmegaConfBaseException, OSError, ValueError) as exc:
        raise VepoError(f"{path}: not a readable suite file ({exc})") from None
    codes = [suite.get("pivot")] if suite.get("pivot") else []
    codes += list(suite.get("langs") or [])
    for direction in suite.get("directions") or []:
        if str(direction).count("-") != 1:
            raise VepoError(f"{path}: direction '{direction}' is not of the form src-tgt (eng_Latn-bod_Tibt)")
        codes += str(direction).split("-")
    return [str(c) for c in codes]


def _canonical(code: str, dataset: FloresDataset, split: str) -> str:
    """Known codes in their FLORES-200 spelling; an unknown code stays as it is when the directory has its file
    (the toy language), else the error names the closest valid codes."""
    if is_known(code):
        return canonical_code(code)
    if dataset.has(split, code):
        return code
    return canonical_code(code)  # raises with suggestions


def resolve_languages(langs, dataset: FloresDataset, split: str) -> list[str]:
    """Distinct codes in the order given, each checked to have its FLORES file (VepoError naming the path)."""
    if langs is None or (isinstance(langs, str) and langs.strip() == ""):
        raise VepoError("langs is empty; pass langs=all, a suite name (langs=default90) or langs=[bod_Tibt,...]")
    if isinstance(langs, str):
        if langs == "all":
            codes = dataset.codes(split)
            if not codes:
                raise VepoError(f"no '{split}' files under {dataset.root}; nothing to measure")
        elif is_known(langs) or dataset.has(split, langs):
            codes = [langs]
        else:
            codes = suite_languages(langs)
    elif isinstance(langs, (list, tuple)):
        codes = [str(c) for c in langs]
        if not codes:
            raise VepoError("langs=[] names no language; pass langs=all, a suite name or langs=[bod_Tibt,...]")
    else:
        raise VepoError(f"langs={langs!r} is not a language list; pass langs=all, a suite name or "
                        f"langs=[bod_Tibt,...]")
    out: list[str] = []
    for code in codes:
        canon = _canonical(code, dataset, split)
        if canon not in out:
            out.append(canon)
    for code in out:
        dataset.path(split, code)
    return out
