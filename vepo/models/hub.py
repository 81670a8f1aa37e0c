"""Hugging Face Hub ids without the wait: is the model in the local cache, and can the Hub be reached at all?

Without a network, huggingface_hub retries every file request with back-off (about 25 s a file, a minute or more
per model) and transformers then raises a long OSError. vepo asks first: a model found complete in the cache is
used from there (the process switches to offline mode when the Hub does not answer within a few seconds); a model
that is not cached and cannot be downloaded is one line saying how to provide it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from vepo.errors import VepoError
from vepo.utils.network import unreachable_reason

log = logging.getLogger("vepo")

# A complete model snapshot has a config and weights (single file or sharded, safetensors or PyTorch).
_CONFIGS = ("config.json", "adapter_config.json")
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
            "adapter_model.safetensors", "adapter_model.bin")
_PROBE_SECONDS = 10.0


_REACHABLE: set[str] = set()  # endpoints that answered once in this process: not probed again


def hub_unreachable(endpoint: str | None = None) -> str | None:
    """Why the Hub (its endpoint, $HF_ENDPOINT) cannot be reached, or None; a Hub that answered once is not asked
    again."""
    if endpoint is None:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    if endpoint in _REACHABLE:
        return None
    reason = unreachable_reason(endpoint, _PROBE_SECONDS)
    if reason is None:
        _REACHABLE.add(endpoint)
    return reason


def cached_file(repo_id: str, filename: str) -> str | None:
    """The local path of `filename` of the Hub repo `repo_id` when it is in the Hugging Face cache, else None."""
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(repo_id, filename)
    except ValueError:  # a malformed id (HFValidationError) is not cached
        return None
    return hit if isinstance(hit, str) else None


def cached_snapshot(repo_id: str) -> tuple[Path | None, list[str]]:
    """The cached snapshot directory of `repo_id` (None when nothing is cached) and what it lacks for loading."""
    configs = [hit for hit in (cached_file(repo_id, name) for name in _CONFIGS) if hit]
    weights = [hit for hit in (cached_file(repo_id, name) for name in _WEIGHTS) if hit]
    snapshot = Path((configs or weights or [None])[0]).parent if (configs or weights) else None
    missing = ([] if configs else ["config.json"]) + ([] if weights else ["the weights (model.safetensors)"])
    return snapshot, missing


def go_offline(reason: str) -> None:
    """Make every later Hub lookup in this process (and in processes it starts) use the cache without retrying."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    log.warning("the Hugging Face Hub is not reachable (%s): using the local cache only (HF_HUB_OFFLINE=1)", reason)


def how_to_provide(repo_id: str) -> str:
    from huggingface_hub import constants

    return (f"download it once with `hf download {repo_id}` (on a machine with network, then copy the cache here "
            f"and point HF_HOME at it; cache now: {constants.HF_HUB_CACHE}), or pass model.path=<local checkpoint "
            f"directory>")


def check_hub_model(repo_id: str) -> Path | None:
    """Fail fast, in one line, when the Hub model `repo_id` can be neither read from the cache nor downloaded;
    returns its cached snapshot directory when it is complete there."""
    from huggingface_hub import constants

    snapshot, missing = cached_snapshot(repo_id)
    offline = constants.is_offline_mode()
    reason = "HF_HUB_OFFLINE is set" if offline else hub_unreachable(constants.ENDPOINT)
    if not missing:
        if reason is not None and not offline:
            go_offline(reason)
        return snapshot
    if reason is None:
        return None  # the Hub answers: transformers downloads what is missing
    where = "in the Hugging Face cache" if snapshot is None else f"complete in the Hugging Face cache (no {missing[0]})"
    hub = reason if offline else f"the Hub ({constants.ENDPOINT}) is not reachable: {reason}"
    raise VepoError(f"model '{repo_id}' is not {where} and {hub}; {how_to_provide(repo_id)}")
