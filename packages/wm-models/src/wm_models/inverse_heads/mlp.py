"""MLP inverse-dynamics head on the latent transition."""

from __future__ import annotations

import torch
from torch import nn

from wm_models.layers import MLP, check_positive, check_shape
from wm_models.registry import INVERSE_HEADS


@INVERSE_HEADS.register("mlp")
class MLPInverseHead(nn.Module):
    """Action logits from concat(z, z_next, z_next - z).

    Trained beside an encoder, it asks the latent to keep what the action changes (the
    player's own sprite), which a next-state loss dominated by everything else on the screen
    can leave out.

    Shapes: z [B, D], z_next [B, D] -> logits [B, num_actions].
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        num_actions: int,
        hidden_dim: int = 256,
        depth: int = 2,
        act: str = "silu",
    ) -> None:
        super().__init__()
        check_positive(latent_dim=latent_dim, num_actions=num_actions, hidden_dim=hidden_dim)
        self.latent_dim = latent_dim
        self.num_actions = num_actions
        self.mlp = MLP(3 * latent_dim, hidden_dim, num_actions, depth=depth, act=act)

    def forward(self, z: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """z [B, D], z_next [B, D] -> logits [B, num_actions]."""
        check_shape(z, (None, self.latent_dim), "z", "inverse_head 'mlp'")
        check_shape(z_next, tuple(z.shape), "z_next", "inverse_head 'mlp'")
        return self.mlp(torch.cat([z, z_next, z_next - z], dim=-1))
