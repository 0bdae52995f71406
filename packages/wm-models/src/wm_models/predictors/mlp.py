"""MLP predictor: the latent plus an action embedding through a residual MLP."""

from __future__ import annotations

import torch
from torch import nn

from wm_models.layers import MLP, check_actions, check_positive, check_shape
from wm_models.registry import PREDICTORS


@PREDICTORS.register("mlp")
class MLPPredictor(nn.Module):
    """z_next = z + MLP([z, embed(action)]) (residual, so "nothing changes" is easy to learn).

    Shapes: z [B, D], action int64 [B] -> z_next [B, D].
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        num_actions: int,
        hidden_dim: int = 256,
        depth: int = 3,
        action_dim: int = 32,
        act: str = "silu",
        residual: bool = True,
    ) -> None:
        super().__init__()
        check_positive(
            latent_dim=latent_dim,
            num_actions=num_actions,
            hidden_dim=hidden_dim,
            action_dim=action_dim,
        )
        self.latent_dim = latent_dim
        self.residual = residual
        self.action_embed = nn.Embedding(num_actions, action_dim)
        self.mlp = MLP(latent_dim + action_dim, hidden_dim, latent_dim, depth=depth, act=act)

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """z [B, D], action [B] -> z_next [B, D]."""
        check_shape(z, (None, self.latent_dim), "z", "predictor 'mlp'")
        check_actions(action, z.shape[0], "predictor 'mlp'")
        delta = self.mlp(torch.cat([z, self.action_embed(action)], dim=-1))
        return z + delta if self.residual else delta
