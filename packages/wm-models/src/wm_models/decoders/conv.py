"""Transposed-convolution decoder: the pixel-space counterpart of the conv encoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import nn

from wm_models.conv_transpose import ConvTranspose2d
from wm_models.layers import (
    activation,
    check_channels,
    check_frame_shape,
    check_pixel_output,
    check_positive,
    check_shape,
    pixel_output,
)
from wm_models.registry import DECODERS


def upsample_plan(size: int, stages: int) -> list[int]:
    """Sizes from the smallest grid up to ``size``, each at most double the previous one."""
    sizes = [size]
    for _ in range(stages):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes[::-1]


def up_conv(in_ch: int, out_ch: int, src: tuple[int, int], dst: tuple[int, int]) -> nn.Module:
    """A stride-2 transposed conv mapping grid ``src`` exactly onto ``dst`` (no cropping), with
    the faster CPU backward of ``wm_models.conv_transpose``."""
    pad = (dst[0] - (2 * src[0] - 1), dst[1] - (2 * src[1] - 1))
    return ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=pad)


@DECODERS.register("conv")
class ConvDecoder(nn.Module):
    """Linear map to a small grid, stride-2 transposed convolutions up to H x W.

    Shapes: z [B, latent_dim] -> frame [B, C, H, W] on the [0, 1] pixel scale
    (unbounded with ``output="linear"``, the default; squashed with ``"sigmoid"``).
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        frame_shape: Sequence[int],
        channels: Sequence[int] = (256, 128, 64, 32),
        act: str = "silu",
        output: str = "linear",
    ) -> None:
        super().__init__()
        self.output = check_pixel_output(output)
        self.frame_shape = check_frame_shape(frame_shape)
        check_positive(latent_dim=latent_dim)
        self.latent_dim = latent_dim
        channels = check_channels(channels)
        c, h, w = self.frame_shape
        hs, ws = upsample_plan(h, len(channels)), upsample_plan(w, len(channels))
        self.grid = (channels[0], hs[0], ws[0])
        self.fc = nn.Sequential(nn.Linear(latent_dim, channels[0] * hs[0] * ws[0]), activation(act))
        layers: list[nn.Module] = []
        for i, out_ch in enumerate((*channels[1:], channels[-1])):
            layers += [
                up_conv(channels[i], out_ch, (hs[i], ws[i]), (hs[i + 1], ws[i + 1])),
                activation(act),
            ]
        self.ups = nn.Sequential(*layers)
        self.out = nn.Conv2d(channels[-1], c, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, D] -> frame [B, C, H, W]."""
        check_shape(z, (None, self.latent_dim), "z", "decoder 'conv'")
        c, h, w = self.grid
        x = rearrange(self.fc(z), "b (c h w) -> b c h w", c=c, h=h, w=w)
        return pixel_output(self.out(self.ups(x)), self.output)
