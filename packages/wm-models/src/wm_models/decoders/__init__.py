"""Decoders: z [B, D] -> frame [B, C, H, W] in [0, 1]."""

from wm_models.decoders.conv import ConvDecoder
from wm_models.decoders.hybrid import HybridDecoder

__all__ = ["ConvDecoder", "HybridDecoder"]
