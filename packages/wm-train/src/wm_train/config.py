"""Data and optimiser settings, gin-bindable as ``DataConfig.*`` and ``OptimConfig.*``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from wm_core import configurable


@configurable
@dataclass
class DataConfig:
    """Which replay store to read and how to cut it into windows.

    ``context`` and ``horizon`` may stay ``None``: context then comes from a loaded encoder
    (else 4) and horizon from the loss (e.g. the JEPA rollout length, else 1).

    Episodes split into train / validation / test by a hash of each episode's identity and
    ``split_seed`` (``wm_data.split_episodes``): training reads train, selects ``best.pt`` on
    validation, and never sees test episodes, which wm-eval scores.
    """

    paths: str | Sequence[str] = "data/assault"
    context: int | None = None
    horizon: int | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    batch_size: int = 128
    num_workers: int = 0
    in_memory: bool | None = None

    def path_list(self) -> list[str]:
        return [self.paths] if isinstance(self.paths, str) else [str(p) for p in self.paths]


@configurable
@dataclass
class OptimConfig:
    """AdamW with linear warmup then cosine decay, plus gradient clipping."""

    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: Sequence[float] = field(default_factory=lambda: (0.9, 0.999))
    warmup_steps: int | None = None
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0

    def lr_factor(self, step: int, total_steps: int) -> float:
        """Multiplier of ``lr`` at 0-based ``step``: linear warmup, then cosine to min_lr_ratio."""
        warmup = self.warmup_steps
        if warmup is None:
            warmup = round(self.warmup_fraction * total_steps)
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine
