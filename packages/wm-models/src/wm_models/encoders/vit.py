"""Vision transformer encoder over space-time patch tokens with rotary positions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from wm_models.layers import (
    AxialRotary,
    TransformerBlock,
    check_frame_shape,
    check_positive,
    check_shape,
)
from wm_models.registry import ENCODERS


@ENCODERS.register("vit")
class ViTEncoder(nn.Module):
    """Per-frame patch embedding, attention over all (time, row, column) tokens, mean-pooled.

    Positions enter only through rotary embeddings inside attention (split over the time, row and
    column axes), so the model has no learned position table tied to a resolution. Frames whose
    size is not a multiple of ``patch_size`` are zero-padded at the bottom/right.

    Shapes: frames [B, T, C, H, W] in [0, 1] -> z [B, latent_dim].
    """

    def __init__(
        self,
        *,
        frame_shape: Sequence[int],
        context: int,
        latent_dim: int = 64,
        patch_size: int = 8,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        rope_base: float = 100.0,
    ) -> None:
        super().__init__()
        self.frame_shape = check_frame_shape(frame_shape)
        check_positive(context=context, latent_dim=latent_dim, patch_size=patch_size, dim=dim)
        check_positive(depth=depth, heads=heads)
        if dim % heads or (dim // heads) % 2:
            raise ValueError(f"dim={dim} / heads={heads} must give an even head dimension")
        self.context = context
        self.patch_size = patch_size
        c, h, w = self.frame_shape
        self.grid = (-(-h // patch_size), -(-w // patch_size))
        self.patch_embed = nn.Conv2d(c, dim, patch_size, stride=patch_size)
        self.rotary = AxialRotary(dim // heads, num_axes=3, base=rope_base)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, latent_dim)
        gh, gw = self.grid
        t, y, x = torch.meshgrid(
            torch.arange(context), torch.arange(gh), torch.arange(gw), indexing="ij"
        )
        positions = torch.stack([t.flatten(), y.flatten(), x.flatten()], dim=-1)
        self.register_buffer("positions", positions, persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, T, C, H, W] -> z [B, D]."""
        check_shape(frames, (None, self.context, *self.frame_shape), "frames", "encoder 'vit'")
        b = frames.shape[0]
        x = rearrange(frames, "b t c h w -> (b t) c h w")
        gh, gw = self.grid
        p = self.patch_size
        x = F.pad(x, (0, gw * p - x.shape[-1], 0, gh * p - x.shape[-2]))
        x = rearrange(self.patch_embed(x), "(b t) d gh gw -> b (t gh gw) d", b=b)
        rotary = self.rotary(self.positions)
        for block in self.blocks:
            x = block(x, rotary=rotary)
        return self.head(self.norm(x).mean(dim=1))
