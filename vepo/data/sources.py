"""Where a run's data comes from: training pairs (toy, FLORES dev, or a parallel corpus) and the FLORES directory
that evaluation reads."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from vepo.config.schema import DataConfig, LangConfig
from vepo.data.flores import ENV_VAR, FloresDataset, flores_root, open_flores
from vepo.data.parallel import CorpusReport, read_parallel
from vepo.data.toy import TOY_SRC_CODE, TOY_TGT_CODE, ToyCorpus, build_toy_corpus, write_flores_layout
from vepo.errors import VepoError
from vepo.utils.io import atomic_write_json, atomic_write_text

TRAIN_DATASETS = ("toy", "flores_dev", "parallel")
log = logging.getLogger("vepo")


@dataclass
class TrainingData:
    pairs: list[tuple[str, str]]
    flores: FloresDataset | None  # evaluation set (devtest); None when no FLORES directory is configured
    report: dict = field(default_factory=dict)


def _toy_corpus(data: DataConfig) -> ToyCorpus:
    return build_toy_corpus(data.seed, data.n_train, data.n_dev, data.n_devtest)


def _configured_flores(data: DataConfig) -> FloresDataset | None:
    root = flores_root(data.flores_dir)
    return open_flores(root, version=data.flores_version) if root else None


def _require_flores(data: DataConfig, what: str) -> FloresDataset:
    flores = _configured_flores(data)
    if flores is None:
        raise VepoError(f"{what} needs the FLORES-200 dataset: set data.flores_dir=<dir> or ${ENV_VAR}")
    return flores


def toy_flores(data: DataConfig, run_dir: Path, corpus: ToyCorpus | None = None) -> FloresDataset:
    """The toy language's dev/devtest in the FLORES layout, written inside the run directory."""
    root = write_flores_layout(corpus or _toy_corpus(data), run_dir / "data" / "flores")
    return open_flores(root)


def eval_flores(data: DataConfig, run_dir: Path, toy: bool, what: str) -> FloresDataset:
    """The FLORES directory for an evaluation: the configured one, else (toy suites) the toy layout."""
    flores = _configured_flores(data)
    if flores is not None:
        return flores
    if toy or data.name == "toy":
        return toy_flores(data, run_dir)
    return _require_flores(data, what)


def check_training_data(data: DataConfig, lang: LangConfig, eval_split: str | None = None) -> None:
    """Before a job starts: the dataset fits the language pair and every file the job will read is readable —
    the whole corpus (UTF-8, TSV shape, line counts, at least one pair) or the FLORES dev pair, and with
    `eval_split` the FLORES files the training's evaluation reads."""
    _check_choice(data, lang)
    if data.name == "parallel":
        _validated_corpus(data, lang)
    elif data.name == "flores_dev":
        _require_flores(data, "data=flores_dev").check_directions("dev", [(lang.src, lang.tgt)])
    flores = _configured_flores(data)
    if eval_split and flores is not None:
        flores.check_directions(eval_split, [(lang.src, lang.tgt)])


def _corpus_args(data: DataConfig, lang: LangConfig) -> tuple:
    return (data.path, data.tgt_path, data.format, data.src_field, data.tgt_field, data.max_pairs, data.tsv_header,
            (lang.src, lang.tgt))


def _read(args: tuple) -> tuple[list[tuple[str, str]], CorpusReport]:
    *positional, tsv_header, langs = args
    return read_parallel(*positional, tsv_header=tsv_header, langs=langs)


def read_corpus(data: DataConfig, lang: LangConfig) -> tuple[list[tuple[str, str]], CorpusReport]:
    """The parallel corpus's pairs and report, read exactly as training reads them (header, columns, limits)."""
    return _read(_corpus_args(data, lang))


def _validated_corpus(data: DataConfig, lang: LangConfig) -> None:
    """Read the whole corpus, once per file version: a sweep checks every job's config before the first starts."""
    paths = [Path(p).expanduser() for p in (data.path, data.tgt_path) if p]
    stamps = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths if p.exists())
    _read_once(_corpus_args(data, lang), stamps)


@lru_cache(maxsize=8)
def _read_once(args: tuple, stamps: tuple) -> None:
    _read(args)


def _check_choice(data: DataConfig, lang: LangConfig) -> None:
    """Cheap: the dataset is trainable, fits the language pair and its paths exist."""
    if data.name not in TRAIN_DATASETS:
        raise VepoError(f"data={data.name} cannot be trained on; use one of {', '.join(TRAIN_DATASETS)}")
    if data.name == "toy" and (lang.src, lang.tgt) != (TOY_SRC_CODE, TOY_TGT_CODE):
        raise VepoError(f"data=toy is the {TOY_SRC_CODE}->{TOY_TGT_CODE} toy language; for lang.tgt={lang.tgt} "
                        f"train on real data: data=flores_dev (with data.flores_dir) or data=parallel data.path=...")
    if data.name == "parallel" and not data.path:
        raise VepoError("data=parallel needs data.path=<corpus: .tsv, .jsonl, .parquet, HF dataset dir, or source "
                        "text file with data.tgt_path>")
    if data.name == "parallel":
        for key, value in (("data.path", data.path), ("data.tgt_path", data.tgt_path)):
            if value and not Path(value).expanduser().exists():
                raise VepoError(f"{key}='{value}' does not exist; point it at the parallel corpus")
    if data.name == "flores_dev":
        _require_flores(data, "data=flores_dev").path("dev", lang.src)


def load_training_data(data: DataConfig, lang: LangConfig, run_dir: Path, write: bool = True) -> TrainingData:
    """Training pairs (also written to `data/train.jsonl`), the evaluation set, and `data/report.json`. With
    write=False (ranks other than 0) nothing is written and the toy evaluation set is not materialised."""
    _check_choice(data, lang)  # the files themselves are checked as they are read
    if data.name == "toy":
        corpus = _toy_corpus(data)
        pairs = corpus.train
        flores = _configured_flores(data) or (toy_flores(data, run_dir, corpus) if write else None)
        report = {"source": "toy", "pairs": len(pairs)}
    elif data.name == "flores_dev":
        flores = _require_flores(data, "data=flores_dev")
        sources, targets = flores.read_pair("dev", lang.src, lang.tgt)
        pairs = list(zip(sources, targets))[: data.max_pairs]
        report = {"source": f"{flores.name} dev {lang.src}-{lang.tgt}", "pairs": len(pairs)}
    else:
        pairs, corpus_report = read_corpus(data, lang)
        if write:
            log.info("training data: %s", corpus_report.summary())
        flores = _configured_flores(data)
        report = corpus_report.__dict__ | {"summary": corpus_report.summary()}
    report["flores"] = flores.describe() if flores else None
    if not write:
        return TrainingData(pairs=pairs, flores=flores, report=report)
    atomic_write_text(run_dir / "data" / "train.jsonl",
                      "".join(json.dumps({"src": s, "tgt": t}, ensure_ascii=False) + "\n" for s, t in pairs))
    atomic_write_json(run_dir / "data" / "report.json", json.loads(json.dumps(report)))
    return TrainingData(pairs=pairs, flores=flores, report=report)
