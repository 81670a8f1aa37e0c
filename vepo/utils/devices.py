"""Whether this machine has the GPUs a config asks for, checked before any job starts."""

from __future__ import annotations

from vepo.errors import VepoError


def visible_gpus() -> int:
    """CUDA devices torch can use here (NVML-based count: it does not initialise CUDA in this process)."""
    import torch

    return torch.cuda.device_count()


def check_cuda(key: str, device: str | None, needed: int = 1, fix: str = "use the CPU") -> None:
    """`key`=cuda... needs `needed` visible GPUs; one line naming the key and the fix otherwise."""
    if not str(device or "").startswith("cuda"):
        return
    found = visible_gpus()
    if found == 0:
        raise VepoError(f"config error: {key}={device} needs a CUDA GPU, but torch finds none on this machine; "
                        f"{fix}, or run where a GPU is visible (check CUDA_VISIBLE_DEVICES)")
    if found < needed:
        raise VepoError(f"config error: {key}={device} with {needed} processes needs {needed} GPUs, but torch finds "
                        f"{found}; set hardware.num_processes={found} (or null: one per visible GPU)")
