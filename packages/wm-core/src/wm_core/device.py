"""The training and evaluation device from one setting (torch is imported only when asked), and
the CPU cores a process may use."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["available_cores", "resolve_device"]


def resolve_device(name: str = "auto") -> Any:
    """``'auto'`` picks CUDA when present; a bare ``'cuda'`` under torchrun takes the rank's GPU."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def available_cores() -> int:
    """Cores this process may use: the affinity mask where the OS has one (a Slurm job's
    allocation, ``taskset``), not every core of the machine."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS, Windows)
        return os.cpu_count() or 1
