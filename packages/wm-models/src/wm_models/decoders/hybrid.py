"""Convolutional decoder whose feature maps read from latent tokens by cross-attention."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import nn

from wm_models.decoders.conv import up_conv, upsample_plan
from wm_models.layers import (
    Attention,
    activation,
    check_channels,
    check_frame_shape,
    check_pixel_output,
    check_positive,
    check_shape,
    pixel_output,
)
from wm_models.registry import DECODERS


class CrossAttend(nn.Module):
    """Every spatial position queries the latent tokens; the answer is added to its features."""

    def __init__(self, channels: int, token_dim: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.attn = Attention(channels, heads, context_dim=token_dim)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """x [B, C, H, W], tokens [B, N, token_dim] -> [B, C, H, W]."""
        h, w = x.shape[-2:]
        q = rearrange(self.norm(x), "b c h w -> b (h w) c")
        y = rearrange(self.attn(q, context=tokens), "b (h w) c -> b c h w", h=h, w=w)
        return x + y


@DECODERS.register("hybrid")
class HybridDecoder(nn.Module):
    """Linear map to a small grid, then stride-2 upsampling; before each of the first
    ``attn_stages`` upsamplings the feature map cross-attends to ``num_tokens`` latent tokens.

    Shapes: z [B, latent_dim] -> frame [B, C, H, W] on the [0, 1] pixel scale
    (unbounded with ``output="linear"``, the default; squashed with ``"sigmoid"``).
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        frame_shape: Sequence[int],
        channels: Sequence[int] = (128, 64, 32),
        num_tokens: int = 8,
        token_dim: int = 64,
        heads: int = 4,
        attn_stages: int = 2,
        act: str = "silu",
        output: str = "linear",
    ) -> None:
        super().__init__()
        self.output = check_pixel_output(output)
        self.frame_shape = check_frame_shape(frame_shape)
        check_positive(latent_dim=latent_dim, num_tokens=num_tokens, token_dim=token_dim)
        check_positive(heads=heads)
        channels = check_channels(channels)
        if not 0 <= attn_stages <= len(channels):
            raise ValueError(f"attn_stages must be in [0, {len(channels)}], got {attn_stages}")
        self.latent_dim = latent_dim
        self.num_tokens = num_tokens
        c, h, w = self.frame_shape
        hs, ws = upsample_plan(h, len(channels)), upsample_plan(w, len(channels))
        self.grid = (channels[0], hs[0], ws[0])
        self.to_tokens = nn.Sequential(
            nn.Linear(latent_dim, num_tokens * token_dim),
            nn.Unflatten(-1, (num_tokens, token_dim)),
            nn.LayerNorm(token_dim),
        )
        self.fc = nn.Sequential(nn.Linear(latent_dim, channels[0] * hs[0] * ws[0]), activation(act))
        outs = (*channels[1:], channels[-1])
        self.attends = nn.ModuleList(
            CrossAttend(channels[i], token_dim, heads) for i in range(attn_stages)
        )
        self.ups = nn.ModuleList(
            nn.Sequential(
                up_conv(channels[i], outs[i], (hs[i], ws[i]), (hs[i + 1], ws[i + 1])),
                activation(act),
            )
            for i in range(len(channels))
        )
        self.out = nn.Conv2d(channels[-1], c, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, D] -> frame [B, C, H, W]."""
        check_shape(z, (None, self.latent_dim), "z", "decoder 'hybrid'")
        tokens = self.to_tokens(z)
        c, h, w = self.grid
        x = rearrange(self.fc(z), "b (c h w) -> b c h w", c=c, h=h, w=w)
        for i, up in enumerate(self.ups):
            if i < len(self.attends):
                x = self.attends[i](x, tokens)
            x = up(x)
        return pixel_output(self.out(x), self.output)
