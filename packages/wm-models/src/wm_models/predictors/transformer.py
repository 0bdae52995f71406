"""Causal transformer predictor over a history of latents followed by an action token."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from wm_models.layers import (
    AxialRotary,
    TransformerBlock,
    check_actions,
    check_positive,
    check_shape,
)
from wm_models.registry import PREDICTORS


@PREDICTORS.register("transformer")
class TransformerPredictor(nn.Module):
    """Tokens [z_1 .. z_L, action] under a causal mask; the action token's output is added to z_L.

    Order is given by rotary positions, so any history length works. With z [B, D] the history is
    just the current latent.

    Shapes: z [B, D] or history [B, L, D], action int64 [B] -> z_next [B, D].
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        num_actions: int,
        dim: int = 128,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        residual: bool = True,
    ) -> None:
        super().__init__()
        check_positive(latent_dim=latent_dim, num_actions=num_actions, dim=dim, depth=depth)
        check_positive(heads=heads)
        if dim % heads or (dim // heads) % 2:
            raise ValueError(f"dim={dim} / heads={heads} must give an even head dimension")
        self.latent_dim = latent_dim
        self.residual = residual
        self.latent_in = nn.Linear(latent_dim, dim)
        self.action_embed = nn.Embedding(num_actions, dim)
        self.rotary = AxialRotary(dim // heads, num_axes=1)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, latent_dim)

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """z [B, D] or [B, L, D], action [B] -> z_next [B, D]."""
        history = z if z.dim() == 3 else z.unsqueeze(1)
        check_shape(history, (None, None, self.latent_dim), "z", "predictor 'transformer'")
        check_actions(action, history.shape[0], "predictor 'transformer'")
        action_token = rearrange(self.action_embed(action), "b d -> b 1 d")
        x = torch.cat([self.latent_in(history), action_token], dim=1)
        positions = torch.arange(x.shape[1], device=x.device).unsqueeze(-1)
        rotary = self.rotary(positions)
        for block in self.blocks:
            x = block(x, rotary=rotary, causal=True)
        delta = self.out(self.norm(x[:, -1]))
        return history[:, -1] + delta if self.residual else delta
