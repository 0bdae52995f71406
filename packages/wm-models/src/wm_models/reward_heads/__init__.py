"""Reward heads: (z [B, D], z_next [B, D]) -> reward [B]."""

from wm_models.reward_heads.attention import AttentionRewardHead
from wm_models.reward_heads.mlp import MLPRewardHead

__all__ = ["AttentionRewardHead", "MLPRewardHead"]
