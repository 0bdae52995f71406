"""Inverse-dynamics heads: which action led from one latent to the next (action logits)."""

from wm_models.inverse_heads import mlp

__all__ = ["mlp"]
