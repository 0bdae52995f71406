"""Damaged checkpoints for fault tests of this package and of the packages that load its files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class CodeRunningPayload:
    """An object whose unpickling creates ``marker``: proof that loading ran foreign code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.marker,))


def truncate(path: Path, keep: int = 4096) -> None:
    """Cut a file to its first ``keep`` bytes, as a crash mid-copy would."""
    path.write_bytes(path.read_bytes()[:keep])


def plant_pickle(path: Path, marker: Path) -> None:
    """Add a :class:`CodeRunningPayload` to an otherwise valid checkpoint's ``extra``."""
    payload = torch.load(path, weights_only=True)
    payload["extra"]["hook"] = CodeRunningPayload(marker)
    torch.save(payload, path)


def edit_recorded_kwargs(path: Path, role: str, **kwargs: Any) -> None:
    """Change the constructor arguments a checkpoint records for ``role`` (not its weights)."""
    payload = torch.load(path, weights_only=True)
    payload["modules"][role]["kwargs"].update(kwargs)
    torch.save(payload, path)
