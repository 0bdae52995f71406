"""MLP predictor: the latent plus an action embedding through a residual MLP."""

from __future__ import annotations

import torch
from torch import nn

from wm_models.layers import MLP, activation, check_actions, check_positive, check_shape
from wm_models.registry import PREDICTORS

CONDITIONING = ("concat", "film")


@PREDICTORS.register("mlp")
class MLPPredictor(nn.Module):
    """z_next = z + MLP([z, embed(action)]) (residual, so "nothing changes" is easy to learn).

    ``conditioning='film'`` also lets the action scale and shift every hidden layer
    (FiLM, Perez et al. 2018; multiplicative action interactions as in Oh et al. 2015's
    action-conditional Atari video prediction): an action can then move a few latent
    directions, the agent's own sprite, without having to pass through the same weights as the
    rest of the screen. The modulation starts as the identity.

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
        conditioning: str = "concat",
    ) -> None:
        super().__init__()
        check_positive(
            latent_dim=latent_dim,
            num_actions=num_actions,
            hidden_dim=hidden_dim,
            action_dim=action_dim,
            depth=depth,
        )
        if conditioning not in CONDITIONING:
            raise ValueError(
                f"conditioning {conditioning!r} is unknown; choose one of {', '.join(CONDITIONING)}"
            )
        self.latent_dim = latent_dim
        self.residual = residual
        self.conditioning = conditioning
        self.action_embed = nn.Embedding(num_actions, action_dim)
        self.mlp = MLP(latent_dim + action_dim, hidden_dim, latent_dim, depth=depth, act=act)
        if conditioning == "film":
            self.film = nn.Linear(action_dim, 2 * hidden_dim * (depth - 1))
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
            self.act = activation(act)

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """z [B, D], action [B] -> z_next [B, D]."""
        check_shape(z, (None, self.latent_dim), "z", "predictor 'mlp'")
        check_actions(action, z.shape[0], "predictor 'mlp'")
        a = self.action_embed(action)
        x = torch.cat([z, a], dim=-1)
        if self.conditioning == "film":
            linears = [m for m in self.mlp if isinstance(m, nn.Linear)]
            scales_shifts = self.film(a).chunk(2 * (len(linears) - 1), dim=-1)
            for i, layer in enumerate(linears[:-1]):
                x = self.act(layer(x)) * (1 + scales_shifts[2 * i]) + scales_shifts[2 * i + 1]
            delta = linears[-1](x)
        else:
            delta = self.mlp(x)
        return z + delta if self.residual else delta
