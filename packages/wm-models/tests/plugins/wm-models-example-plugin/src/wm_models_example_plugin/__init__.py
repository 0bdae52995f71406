"""Example wm-models plugin: importing this module registers the encoder ``example_linear``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from wm_models import ENCODERS


@ENCODERS.register("example_linear")
class ExampleLinearEncoder(nn.Module):
    """One linear map from all context pixels to the latent.

    Shapes: frames [B, T, C, H, W] in [0, 1] -> z [B, latent_dim].
    """

    def __init__(
        self, *, frame_shape: Sequence[int], context: int, latent_dim: int = 64, bias: bool = True
    ) -> None:
        super().__init__()
        c, h, w = frame_shape
        self.linear = nn.Linear(context * c * h * w, latent_dim, bias=bias)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, T, C, H, W] -> z [B, D]."""
        return self.linear(frames.flatten(1))
