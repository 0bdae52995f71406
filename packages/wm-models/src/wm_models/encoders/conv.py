"""Strided CNN encoder: the small, fast default."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import nn

from wm_models.layers import (
    activation,
    check_channels,
    check_frame_shape,
    check_positive,
    check_shape,
    conv_out_size,
)
from wm_models.registry import ENCODERS


@ENCODERS.register("conv")
class ConvEncoder(nn.Module):
    """Strided 3x3 convolutions over the T context frames stacked on channels, then a linear map.

    Shapes: frames [B, T, C, H, W] in [0, 1] -> z [B, latent_dim].
    """

    def __init__(
        self,
        *,
        frame_shape: Sequence[int],
        context: int,
        latent_dim: int = 64,
        channels: Sequence[int] = (32, 64, 128, 256),
        act: str = "silu",
    ) -> None:
        super().__init__()
        self.frame_shape = check_frame_shape(frame_shape)
        check_positive(context=context, latent_dim=latent_dim)
        self.context = context
        channels = check_channels(channels)
        c, h, w = self.frame_shape
        layers: list[nn.Module] = []
        in_ch = context * c
        for out_ch in channels:
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), activation(act)]
            in_ch = out_ch
            h, w = conv_out_size(h, 3, 2, 1), conv_out_size(w, 3, 2, 1)
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(in_ch * h * w, latent_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, T, C, H, W] -> z [B, D]."""
        check_shape(frames, (None, self.context, *self.frame_shape), "frames", "encoder 'conv'")
        x = self.convs(rearrange(frames, "b t c h w -> b (t c) h w"))
        return self.head(rearrange(x, "b c h w -> b (c h w)"))
