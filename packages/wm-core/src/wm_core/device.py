"""The training and evaluation device from one setting (torch is imported only when asked)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["resolve_device"]


def resolve_device(name: str = "auto") -> Any:
    """``'auto'`` picks CUDA when present; a bare ``'cuda'`` under torchrun takes the rank's GPU."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device
