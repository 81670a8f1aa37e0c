"""Materialise the toy corpus where the rest of vepo expects data: a FLORES-layout directory and training pairs."""

from __future__ import annotations

from pathlib import Path

from vepo.config.schema import DataConfig
from vepo.data.flores import open_flores
from vepo.data.toy import (
    ToyCorpus,
    build_toy_corpus,
    write_flores_layout,
    write_parallel_tsv,
)
from vepo.errors import VepoError

DATASETS = ("toy",)


def _check_name(data: DataConfig) -> None:
    if data.name not in DATASETS:
        raise VepoError(f"data.name='{data.name}' is not available yet; available: {', '.join(DATASETS)}")


def _toy_corpus(data: DataConfig) -> ToyCorpus:
    _check_name(data)
    return build_toy_corpus(data.seed, data.n_train, data.n_dev, data.n_devtest)


def _flores_dir(data: DataConfig, run_dir: Path, corpus: ToyCorpus | None) -> Path:
    if data.flores_dir is not None:
        return open_flores(data.flores_dir).root
    return write_flores_layout(corpus or _toy_corpus(data), run_dir / "data" / "flores")


def ensure_flores_dir(data: DataConfig, run_dir: Path) -> Path:
    """The FLORES directory to evaluate on: `data.flores_dir` if given, else the toy layout inside the run dir."""
    _check_name(data)
    return _flores_dir(data, run_dir, None)


def toy_training_data(data: DataConfig, run_dir: Path) -> tuple[list[tuple[str, str]], Path]:
    """The training pairs (also written to `data/train.tsv`) and the FLORES directory, from one corpus build."""
    corpus = _toy_corpus(data)
    write_parallel_tsv(corpus.train, run_dir / "data" / "train.tsv")
    return corpus.train, _flores_dir(data, run_dir, corpus)
