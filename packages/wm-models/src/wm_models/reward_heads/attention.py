"""Attention reward head: a learned CLS token reads tokens made from z and z_next."""

from __future__ import annotations

from typing import ClassVar

import torch
from einops import rearrange, repeat
from torch import nn

from wm_models.layers import TransformerBlock, check_positive, check_shape
from wm_models.registry import REWARD_HEADS
from wm_models.reward_heads.standardize import InputStandardizer, StandardizedInputsMixin


@REWARD_HEADS.register("attention")
class AttentionRewardHead(StandardizedInputsMixin, nn.Module):
    """Each latent becomes ``num_tokens`` tokens (tagged "before" / "after"); a CLS token attends
    over them through ``depth`` transformer blocks and its output is the reward.

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
        num_tokens: int = 4,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        standardize: bool = True,
    ) -> None:
        super().__init__()
        check_positive(latent_dim=latent_dim, num_tokens=num_tokens, dim=dim, depth=depth)
        check_positive(heads=heads)
        self.latent_dim = latent_dim
        self.num_tokens = num_tokens
        self.standardize = bool(standardize)
        if self.standardize:
            self.inputs = InputStandardizer(latent_dim)
        self.to_tokens = nn.Linear(latent_dim, num_tokens * dim)
        self.slot = nn.Parameter(
            torch.randn(2, num_tokens, dim) * 0.02
        )  # which latent, which token
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 1)

    def forward(self, z: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """z [B, D], z_next [B, D] -> reward [B]."""
        check_shape(z, (None, self.latent_dim), "z", "reward_head 'attention'")
        check_shape(z_next, tuple(z.shape), "z_next", "reward_head 'attention'")
        z, z_next = self.standardized(z, z_next)
        pair = torch.stack([z, z_next], dim=1)
        tokens = rearrange(self.to_tokens(pair), "b s (n d) -> b s n d", n=self.num_tokens)
        tokens = rearrange(tokens + self.slot, "b s n d -> b (s n) d")
        x = torch.cat([repeat(self.cls, "1 1 d -> b 1 d", b=z.shape[0]), tokens], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.out(self.norm(x[:, 0])).squeeze(-1)
