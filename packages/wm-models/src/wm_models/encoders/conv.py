"""Strided CNN encoder: the small, fast default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from einops import rearrange
from torch import nn

from wm_models.layers import (
    activation,
    check_channels,
    check_frame_shape,
    check_positive,
    check_shape,
    conv_norm,
    conv_out_size,
)
from wm_models.registry import ENCODERS


@ENCODERS.register("conv")
class ConvEncoder(nn.Module):
    """Strided 3x3 convolutions over the T context frames stacked on channels, then a linear map.

    ``norm="group"`` (the default) puts a per-sample channel LayerNorm (GroupNorm with one
    group) after each convolution. Atari frames are mostly static background, so without it
    the bias terms dominate: at init the latents of different states differ by ~2% of their
    size, the JEPA target barely varies and every probe reads a near-constant vector. With it,
    states differ by ~50% of the latent's size from the first step. ``norm="none"`` is the
    plain stack.

    Shapes: frames [B, T, C, H, W] in [0, 1] -> z [B, latent_dim].
    """

    # Checkpoints recorded before ``norm`` existed hold plain stacks.
    legacy_defaults: ClassVar[dict[str, str]] = {"norm": "none"}

    def __init__(
        self,
        *,
        frame_shape: Sequence[int],
        context: int,
        latent_dim: int = 64,
        channels: Sequence[int] = (32, 64, 128, 256),
        act: str = "silu",
        norm: str = "group",
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
            layers += [
                nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1),
                *conv_norm(norm, out_ch),
                activation(act),
            ]
            in_ch = out_ch
            h, w = conv_out_size(h, 3, 2, 1), conv_out_size(w, 3, 2, 1)
        self.convs = nn.Sequential(*layers)
        self.head = nn.Linear(in_ch * h * w, latent_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, T, C, H, W] -> z [B, D]."""
        check_shape(frames, (None, self.context, *self.frame_shape), "frames", "encoder 'conv'")
        x = self.convs(rearrange(frames, "b t c h w -> b (t c) h w"))
        return self.head(rearrange(x, "b c h w -> b (c h w)"))
