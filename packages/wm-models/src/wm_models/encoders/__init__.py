"""Encoders: frames [B, T, C, H, W] in [0, 1] -> z [B, D]."""

from wm_models.encoders.conv import ConvEncoder
from wm_models.encoders.impala import ImpalaEncoder
from wm_models.encoders.vit import ViTEncoder

__all__ = ["ConvEncoder", "ImpalaEncoder", "ViTEncoder"]
