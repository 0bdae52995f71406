"""Predictors: (z [B, D], action [B]) -> z_next [B, D]."""

from wm_models.predictors.mlp import MLPPredictor
from wm_models.predictors.transformer import TransformerPredictor

__all__ = ["MLPPredictor", "TransformerPredictor"]
