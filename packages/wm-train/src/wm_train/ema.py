"""EMA targets (e.g. ``target_encoder`` follows ``encoder``) on torch's AveragedModel."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def decay_schedule(decay: float | Sequence[float], total_steps: int) -> Callable[[int], float]:
    """Constant decay (0.999, the seed's) or a linear ramp ``(start, end)`` (I-JEPA)."""
    if isinstance(decay, (int, float)):
        value = float(decay)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"Trainer.ema_decay must be in [0, 1], got {decay}")
        return lambda step: value
    if len(decay) != 2:
        raise ValueError(f"Trainer.ema_decay must be a float or (start, end), got {decay!r}")
    start, end = float(decay[0]), float(decay[1])
    span = max(1, total_steps - 1)
    return lambda step: start + (end - start) * min(1.0, step / span)


class EmaTarget:
    """An AveragedModel whose decay is looked up per update from a step-indexed schedule.

    The averaged copy starts equal to the source and is updated after every optimiser step;
    the first update copies (AveragedModel's convention), later ones lerp with ``1 - decay``.
    """

    def __init__(self, source: nn.Module, decay_at: Callable[[int], float]) -> None:
        self.decay_at = decay_at
        self.decay = decay_at(0)
        self.averaged = AveragedModel(source, multi_avg_fn=self._average, use_buffers=True)
        self.averaged.requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        return self.averaged.module

    @torch.no_grad()
    def _average(self, ema: list[torch.Tensor], current: list[torch.Tensor], _n: object) -> None:
        if torch.is_floating_point(ema[0]):
            get_ema_multi_avg_fn(self.decay)(ema, current, _n)
        else:  # integer buffers (e.g. BatchNorm's counter) are copied
            for e, c in zip(ema, current, strict=True):
                e.copy_(c)

    def update(self, source: nn.Module, step: int) -> None:
        """Move the target towards ``source`` with the decay of ``step`` (0-based)."""
        self.decay = self.decay_at(step)
        self.averaged.update_parameters(source)

    def state_dict(self) -> dict:
        return {"n_averaged": self.averaged.n_averaged.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        self.averaged.n_averaged.copy_(state["n_averaged"])
