"""MLP reward head on the latent transition."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from wm_models.layers import MLP, check_positive, check_shape
from wm_models.registry import REWARD_HEADS
from wm_models.reward_heads.standardize import InputStandardizer, StandardizedInputsMixin


@REWARD_HEADS.register("mlp")
class MLPRewardHead(StandardizedInputsMixin, nn.Module):
    """MLP on concat(z, z_next, z_next - z): the difference makes "what changed" explicit.

    ``standardize`` (default) standardises z and z_next with training-split statistics held in
    buffers (``set_input_statistics``), so heads on differently scaled latents compare fairly.

    Shapes: z [B, D], z_next [B, D] -> reward [B].
    """

    # Checkpoints recorded before ``standardize`` existed read raw latents.
    legacy_defaults: ClassVar[dict[str, bool]] = {"standardize": False}

    def __init__(
        self,
        *,
        latent_dim: int,
        hidden_dim: int = 256,
        depth: int = 3,
        act: str = "silu",
        standardize: bool = True,
    ) -> None:
        super().__init__()
        check_positive(latent_dim=latent_dim, hidden_dim=hidden_dim)
        self.latent_dim = latent_dim
        self.standardize = bool(standardize)
        if self.standardize:
            self.inputs = InputStandardizer(latent_dim)
        self.mlp = MLP(3 * latent_dim, hidden_dim, 1, depth=depth, act=act)

    def forward(self, z: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """z [B, D], z_next [B, D] -> reward [B]."""
        check_shape(z, (None, self.latent_dim), "z", "reward_head 'mlp'")
        check_shape(z_next, tuple(z.shape), "z_next", "reward_head 'mlp'")
        z, z_next = self.standardized(z, z_next)
        return self.mlp(torch.cat([z, z_next, z_next - z], dim=-1)).squeeze(-1)
