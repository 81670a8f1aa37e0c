"""Materialise the toy corpus where the rest of vepo expects data: a FLORES-layout directory and training pairs."""

from __future__ import annotations

from pathlib import Path

from vepo.config.schema import DataConfig
from vepo.data.toy import build_toy_corpus, write_flores_layout, write_parallel_tsv
from vepo.data.flores import flores_file
from vepo.errors import VepoError

DATASETS = ("toy",)


def _check_name(data: DataConfig) -> None:
    if data.name not in DATASETS:
        raise VepoError(f"data.name='{data.name}' is not available yet; available: {', '.join(DATASETS)}")


def ensure_flores_dir(data: DataConfig, run_dir: Path) -> Path:
    """The FLORES directory to evaluate on: `data.flores_dir` if given, else the toy layout inside the run dir."""
    _check_name(data)
    if data.flores_dir is not None:
        root = Path(data.flores_dir)
        if not flores_file(root, "devtest", "eng_Latn").parent.is_dir():
            raise VepoError(f"data.flores_dir='{root}' has no devtest/ directory; point it at a FLORES-layout root")
        return root
    corpus = build_toy_corpus(data.seed, data.n_train, data.n_dev, data.n_devtest)
    return write_flores_layout(corpus, run_dir / "data" / "flores")


def toy_training_pairs(data: DataConfig, run_dir: Path) -> list[tuple[str, str]]:
    _check_name(data)
    corpus = build_toy_corpus(data.seed, data.n_train, data.n_dev, data.n_devtest)
    write_parallel_tsv(corpus.train, run_dir / "data" / "train.tsv")
    return corpus.train
