"""Shared fixtures: tests never reach the network, and the end-to-end run is trained once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite runs in pytest-xdist workers, one per core (pyproject.toml addopts): one intra-op thread each (and in the
# CLI subprocesses they start), because OpenMP threads spin-waiting for a core another worker holds make tiny
# matrix products 100x slower. Set before any test module imports torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
# One toy-encoder cache for the session (vepo/rewards/encoders.py): every run with the same corpus settings copies
# the encoder trained by the first one, and the user's own cache is never touched.
os.environ.setdefault("VEPO_CACHE_DIR", tempfile.mkdtemp(prefix="vepo-test-cache-"))

# Small enough for seconds on two CPU cores, large enough to exercise every stage.
SMOKE_OVERRIDES = [
    "train.sft_steps=2", "train.rl_steps=2", "train.sft_batch_size=8", "train.prompts_per_step=2",
    "train.num_generations=4", "train.max_completion_length=16", "data.n_train=64", "data.n_dev=8",
    "data.n_devtest=8", "eval.max_new_tokens=16", "model.tiny.vocab_size=400",
]


def run_vepo(*args: str, cwd: Path | None = None, timeout: int = 600,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (exit codes and stderr are part of the contract)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "vepo", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """`<shared tmp>/<name>`, made by `build` exactly once per test session even across xdist workers (the first
    worker builds under a file lock, the others wait and reuse it). Users must treat it as read-only."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the parent is shared by the workers
    target, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            build(target)
            done.touch()
    return target


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """One finished smoke-size `vepo train` run for the whole session (read-only: copy it before changing it)."""

    def train(run_dir: Path) -> None:
        proc = run_vepo("train", *SMOKE_OVERRIDES, f"hydra.run.dir={run_dir}")
        assert proc.returncode == 0, proc.stderr[-3000:]

    return built_once(tmp_path_factory, "smoke_run", train)


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A tiny saved policy (1 layer, hidden 32) and 16 toy prompt rows with references, for trainer-level tests."""
    from vepo.config.schema import TinyModelConfig
    from vepo.data.prompts import make_prompt
    from vepo.data.toy import build_toy_corpus
    from vepo.models.tiny import build_and_save_tiny

    corpus = build_toy_corpus(seed=0, n_train=120, n_dev=4, n_devtest=4)
    texts = [s for s, _ in corpus.train] + [t for _, t in corpus.train]
    cfg = TinyModelConfig(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=1)
    path = build_and_save_tiny(texts, cfg, tmp_path_factory.mktemp("policy") / "tiny", seed=0)
    rows = [{"prompt": make_prompt(s, "English", "Toy"), "ref": t} for s, t in corpus.train[:16]]
    return path, rows


FLORES_LINES = 24
_CYRILLIC = str.maketrans("abcdefghijklmnopqrstuvwxyz", "абцдефгхийклмнопярстуввхыз")


@pytest.fixture(scope="session")
def flores_dir(tmp_path_factory) -> Path:
    """A synthetic FLORES-200 directory: eng_Latn, bod_Tibt (the toy language's targets) and kaz_Cyrl (English
    letters mapped to Cyrillic), FLORES_LINES parallel lines per split."""
    from vepo.data.toy import build_toy_corpus

    n = FLORES_LINES
    corpus = build_toy_corpus(seed=3, n_train=n, n_dev=n, n_devtest=n)
    root = tmp_path_factory.mktemp("flores")
    for split, pairs in (("dev", corpus.dev), ("devtest", corpus.devtest)):
        langs = {"eng_Latn": [s for s, _ in pairs], "bod_Tibt": [t for _, t in pairs],
                 "kaz_Cyrl": [s.translate(_CYRILLIC) for s, _ in pairs]}
        (root / split).mkdir()
        for code, lines in langs.items():
            (root / split / f"{code}.{split}").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return root
