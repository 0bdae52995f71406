"""IMPALA ResNet encoder (Espeholt et al. 2018), the standard in Atari representation work."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from wm_models.layers import (
    check_channels,
    check_frame_shape,
    check_positive,
    check_shape,
    conv_out_size,
)
from wm_models.registry import ENCODERS


class ResidualBlock(nn.Module):
    """relu -> conv3x3 -> relu -> conv3x3, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, H, W] -> [B, C, H, W]."""
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ImpalaStage(nn.Module):
    """conv3x3 -> maxpool 3x3 stride 2 -> two residual blocks."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.res1 = ResidualBlock(out_ch)
        self.res2 = ResidualBlock(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, in_ch, H, W] -> [B, out_ch, ceil(H/2), ceil(W/2)]."""
        return self.res2(self.res1(self.pool(self.conv(x))))


@ENCODERS.register("impala")
class ImpalaEncoder(nn.Module):
    """IMPALA ResNet over the T context frames stacked on channels, then relu and a linear map.

    Shapes: frames [B, T, C, H, W] in [0, 1] -> z [B, latent_dim].
    """

    def __init__(
        self,
        *,
        frame_shape: Sequence[int],
        context: int,
        latent_dim: int = 64,
        channels: Sequence[int] = (16, 32, 32),
    ) -> None:
        super().__init__()
        self.frame_shape = check_frame_shape(frame_shape)
        check_positive(context=context, latent_dim=latent_dim)
        self.context = context
        channels = check_channels(channels)
        c, h, w = self.frame_shape
        stages = []
        in_ch = context * c
        for out_ch in channels:
            stages.append(ImpalaStage(in_ch, out_ch))
            in_ch = out_ch
            h, w = conv_out_size(h, 3, 2, 1), conv_out_size(w, 3, 2, 1)
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(in_ch * h * w, latent_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, T, C, H, W] -> z [B, D]."""
        check_shape(frames, (None, self.context, *self.frame_shape), "frames", "encoder 'impala'")
        x = self.stages(rearrange(frames, "b t c h w -> b (t c) h w"))
        return self.head(F.relu(rearrange(x, "b c h w -> b (c h w)")))
