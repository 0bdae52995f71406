"""Reward heads: (z [B, D], z_next [B, D]) -> reward [B], on standardised inputs."""

from wm_models.reward_heads.attention import AttentionRewardHead
from wm_models.reward_heads.mlp import MLPRewardHead
from wm_models.reward_heads.standardize import InputStandardizer, StandardizedInputsMixin

__all__ = ["AttentionRewardHead", "InputStandardizer", "MLPRewardHead", "StandardizedInputsMixin"]
