"""COMET scoring (unbabel-comet) shared by evaluation and the COMET reward.

`CometScorer` loads a COMET model once (a local `.../checkpoints/model.ckpt` or a Hugging Face id such as
`Unbabel/wmt22-comet-da`; offline, the id must already be in the HF cache) and scores segments in length-sorted
batches with comet's own `prepare_for_inference` + `predict_step`, without a Lightning Trainer: no progress bars,
no trainer banners, and no Lightning cluster detection inside a torchrun/accelerate job. `get_comet_scorer` keeps
one scorer per (model, device) per process. The reward component in the mix is `vepo.rewards.comet.CometComponent`.

Non-finite model outputs become 0.0 and are counted (`CometScorer.nan_count`) with a warning. COMET rates
untranslated copies of the source highly: gate a COMET reward with a target-script check (docs/design/evaluation.md).
"""

from __future__ import annotations

import ast
import logging
import math
import os
import pickle
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vepo.errors import VepoError
from vepo.models.hub import cached_file, hub_unreachable

log = logging.getLogger("vepo.models.comet")

DEFAULT_COMET_MODEL = "Unbabel/wmt22-comet-da"
DEFAULT_QE_MODEL = "Unbabel/wmt22-cometkiwi-da"

_OFFLINE_HINT = ("download it once on a connected machine (`hf download {name}`) into the Hugging Face cache and "
                 "set HF_HOME to that cache here, or pass a local COMET checkpoint path (.../checkpoints/model.ckpt)")
_MISSING_KEYS_WARNING = "Found keys that are in the model state dict but not in the checkpoint: "


def sanitize_scores(values: Sequence[float]) -> tuple[list[float], int]:
    """Replace NaN/inf by 0.0; return the cleaned floats and how many were replaced."""
    out, bad = [], 0
    for v in values:
        v = float(v)
        if math.isfinite(v):
            out.append(v)
        else:
            out.append(0.0)
            bad += 1
    return out, bad


def _offline() -> bool:
    truthy = {"1", "on", "yes", "true"}
    if any(os.environ.get(k, "").strip().lower() in truthy for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_unreachable_now() -> bool:
    return hub_unreachable() is not None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + "...") if len(text) > 300 else (text or type(exc).__name__)


def _looks_like_path(model: str) -> bool:
    """A Hub id is `name` or `org/name`; anything else that names a file is a (missing) local path."""
    return model.endswith((".ckpt", ".yaml")) or model.startswith((".", "~", "/")) or model.count("/") > 1 \
        or "\\" in model


def resolve_comet_checkpoint(model: str) -> Path:
    """Path of `checkpoints/model.ckpt` for a local checkpoint/directory or a (cached or downloadable) HF id."""
    given = Path(model).expanduser()
    path = given / "checkpoints" / "model.ckpt" if given.is_dir() else given
    if path.is_file():
        return path.resolve()
    if given.exists() or _looks_like_path(model):
        raise VepoError(f"COMET checkpoint not found: {path} (expected a .../checkpoints/model.ckpt file or the "
                        f"directory that holds checkpoints/ and hparams.yaml)")

    from vepo.models.comet.compat import apply_comet_patches

    apply_comet_patches()
    from comet import download_model

    if cached_file(model, "checkpoints/model.ckpt"):
        try:
            return Path(download_model(model, local_files_only=True))
        except Exception as exc:
            raise VepoError(f"COMET model '{model}' is in the Hugging Face cache but could not be opened: "
                            f"{_one_line(exc)}") from exc
    from comet.models.download_utils import available_legacy_metrics, get_cache_folder

    if model in available_legacy_metrics and (Path(get_cache_folder()) / model / "checkpoints").is_dir():
        return Path(download_model(model))  # pre-Hub COMET release already in comet's own cache
    return _download(model)


def _download(model: str) -> Path:
    """A COMET model that is in no cache: download it, or say in one line that a download is needed and how."""
    from comet.models.download_utils import available_legacy_metrics, download_model_legacy
    from huggingface_hub import constants, snapshot_download

    needed = f"COMET model '{model}' needs a download (it is not in the Hugging Face cache)"
    if _offline():
        raise VepoError(f"{needed} and HF_HUB_OFFLINE is set: " + _OFFLINE_HINT.format(name=model))
    reason = None if model in available_legacy_metrics else hub_unreachable()
    if reason is not None:
        raise VepoError(f"{needed} and the Hub ({constants.ENDPOINT}) is not reachable ({reason}): "
                        + _OFFLINE_HINT.format(name=model))
    try:
        if model in available_legacy_metrics:  # pre-Hub releases come from comet's own server
            return Path(download_model_legacy(model))
        # Called directly rather than through comet.download_model, which turns every failure into
        # "Model ... not supported by COMET" and hides the cause (not found, gated, network).
        return Path(snapshot_download(repo_id=model)) / "checkpoints" / "model.ckpt"
    except Exception as exc:
        raise VepoError(f"could not download COMET model '{model}' ({_one_line(exc)}); gated models such as "
                        f"{DEFAULT_QE_MODEL} need their license accepted on the Hub and `hf auth login`; or "
                        f"pass a local checkpoint path") from exc


def _check_encoder_available(ckpt: Path, model: str, offline: bool) -> None:
    """COMET builds its encoder from `pretrained_model` (e.g. xlm-roberta-large): offline, its config and tokenizer
    must be cached too. Fail with one line before comet raises a long OSError."""
    import yaml

    hparams_file = ckpt.parents[1] / "hparams.yaml"
    if not hparams_file.is_file():
        raise VepoError(f"COMET checkpoint {ckpt} has no hparams.yaml in {hparams_file.parent}")
    try:
        hparams = yaml.safe_load(hparams_file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise VepoError(f"{hparams_file}: malformed YAML ({_one_line(exc)})") from exc
    encoder = str(hparams.get("pretrained_model") or "")
    if not offline or not encoder or Path(encoder).is_dir():
        return
    if not cached_file(encoder, "config.json"):
        raise VepoError(f"COMET model '{model}' builds its encoder from '{encoder}', which needs a download (its "
                        f"config/tokenizer are not in the Hugging Face cache, and HF_HUB_OFFLINE is set or the Hub is "
                        f"not reachable): " + _OFFLINE_HINT.format(name=encoder))


def _to_device(batch: Any, device: Any) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _resolve_device(device: str | None, gpus: int | None) -> str:
    import torch

    if gpus is not None:
        if gpus > 1:
            raise VepoError(f"COMET gpus={gpus}: multi-GPU scoring inside one process is not supported (comet's "
                            f"DDP predict exits worker ranks); run one scorer per process/device")
        if gpus == 0:
            device = "cpu"
        elif device is None or str(device).startswith("cpu"):
            device = "cuda"
    if device is None:
        device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise VepoError(f"COMET device '{device}' is not a torch device ({_one_line(exc)})") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise VepoError(f"COMET device '{device}' requested but CUDA is not available; use device=cpu")
        if dev.index is None:  # one cache entry per physical device: "cuda" means the current one
            dev = torch.device("cuda", torch.cuda.current_device())
    return str(dev)


class CometScorer:
    """A loaded COMET model. `score` returns one float per segment (NaN/inf -> 0.0, counted in `nan_count`)."""

    def __init__(self, model: str = DEFAULT_COMET_MODEL, batch_size: int = 32, device: str | None = "cpu",
                 gpus: int | None = None) -> None:
        if batch_size < 1:
            raise VepoError(f"COMET batch_size must be >= 1, got {batch_size}")
        self.model_name = str(model)
        self.batch_size = int(batch_size)
        self.device = _resolve_device(device, gpus)
        self.nan_count = 0
        self.checkpoint = resolve_comet_checkpoint(self.model_name)
        self.model = self._load(self.checkpoint)
        self.requires_references: bool = bool(self.model.requires_references())
        self._lock = threading.Lock()

    def _load(self, ckpt: Path):
        from vepo.models.comet.compat import apply_comet_patches

        apply_comet_patches()
        import comet

        # Without a reachable Hub the encoder's files must come from the cache (no minute of retries per file).
        offline = _offline() or _hub_unreachable_now()
        _check_encoder_available(ckpt, self.model_name, offline)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = comet.load_from_checkpoint(str(ckpt), local_files_only=offline)
            except (OSError, ValueError, RuntimeError, KeyError, pickle.UnpicklingError) as exc:
                raise VepoError(f"cannot load COMET checkpoint {ckpt}: {_one_line(exc)}") from exc
        params = {name for name, _ in model.named_parameters()}
        for w in caught:
            msg = str(w.message)
            if msg.startswith(_MISSING_KEYS_WARNING):
                try:
                    missing = [k for k in ast.literal_eval(msg[len(_MISSING_KEYS_WARNING):]) if k in params]
                except (ValueError, SyntaxError):
                    missing = []
                if missing:  # load is strict=False: these weights would silently stay random
                    raise VepoError(f"COMET checkpoint {ckpt} lacks {len(missing)} weight(s) of its model "
                                    f"(e.g. {missing[0]}): the checkpoint does not match this comet/transformers "
                                    f"model layout")
            log.debug("COMET load: %s", msg)
        model.eval()
        model.requires_grad_(False)
        return model.to(self.device)

    def _samples(self, sources, hypotheses, references) -> list[dict[str, str]]:
        n = len(hypotheses)
        if len(sources) != n:
            raise VepoError(f"COMET: {len(sources)} sources for {n} hypotheses")
        if references is None:
            if self.requires_references:
                raise VepoError(f"COMET model '{self.model_name}' needs references (use a QE model such as "
                                f"{DEFAULT_QE_MODEL} to score without them)")
            return [{"src": str(s), "mt": str(h)} for s, h in zip(sources, hypotheses)]
        if len(references) != n:
            raise VepoError(f"COMET: {len(references)} references for {n} hypotheses")
        return [{"src": str(s), "mt": str(h), "ref": str(r)} for s, h, r in zip(sources, hypotheses, references)]

    def score(self, sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[str] | None = None,
              batch_size: int | None = None) -> list[float]:
        """Segment scores in input order. references=None for QE models (e.g. COMET-Kiwi)."""
        import torch

        samples = self._samples(list(sources), list(hypotheses), None if references is None else list(references))
        if not samples:
            return []
        bs = int(batch_size or self.batch_size)
        # Length batching (as comet's predict): fewer pad tokens; the order is restored below.
        order = sorted(range(len(samples)), key=lambda i: (len(samples[i]["src"]) + len(samples[i]["mt"])
                                                           + len(samples[i].get("ref", "")), i))
        raw: list[float] = [0.0] * len(samples)
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), bs):
                idx = order[start:start + bs]
                batch = self.model.prepare_for_inference([samples[i] for i in idx])
                pred = self.model.predict_step(_to_device(batch, self.device))
                for i, v in zip(idx, pred["scores"].float().cpu().tolist()):
                    raw[i] = v
        scores, bad = sanitize_scores(raw)
        if bad:
            self.nan_count += bad
            log.warning("COMET (%s) returned %d non-finite score(s) out of %d, scored as 0.0 (%d so far)",
                        self.model_name, bad, len(scores), self.nan_count)
        return scores

    def system_score(self, sources: Sequence[str], hypotheses: Sequence[str],
                     references: Sequence[str] | None = None) -> float:
        """Mean segment score (COMET's system score)."""
        scores = self.score(sources, hypotheses, references)
        if not scores:
            raise VepoError("COMET system score of an empty set of segments")
        return sum(scores) / len(scores)


_SCORERS: dict[tuple[str, str], CometScorer] = {}
_SCORERS_LOCK = threading.Lock()


def _cache_key(model: str, device: str) -> tuple[str, str]:
    path = Path(model).expanduser()
    return (str(path.resolve()) if path.exists() else model, device)


def get_comet_scorer(model: str = DEFAULT_COMET_MODEL, device: str | None = "cpu", batch_size: int = 32,
                     gpus: int | None = None) -> CometScorer:
    """The process-wide scorer for (model, device): loaded on first use, then shared (batch_size of the first)."""
    dev = _resolve_device(device, gpus)
    key = _cache_key(str(model), dev)
    with _SCORERS_LOCK:
        scorer = _SCORERS.get(key)
        if scorer is None:
            scorer = _SCORERS[key] = CometScorer(str(model), batch_size=batch_size, device=dev)
        return scorer


def clear_comet_scorers() -> None:
    """Drop the cached scorers (frees their memory once nothing else holds them)."""
    with _SCORERS_LOCK:
        _SCORERS.clear()
