"""Reference points shown beside every model number.

* a randomly initialised encoder of the same architecture (rebuilt from the checkpoint's
  spec with a fixed seed): what the architecture gives before any training;
* the copy-current-latent predictor ``z_{t+1} = z_t``: what a world model must beat;
* the copy-last-frame predictor for pixels, and a constant (train-mean) reward.
"""

from __future__ import annotations

import json

import torch
from torch import nn

from wm_models import build, module_spec


def spec_key(module: nn.Module) -> str:
    """A stable string for a module's architecture (kind, registry name, kwargs)."""
    return json.dumps(module_spec(module), sort_keys=True, default=str)


def random_encoder(encoder: nn.Module, seed: int = 0) -> nn.Module:
    """A fresh, untrained encoder with ``encoder``'s architecture, initialised from ``seed``."""
    spec = module_spec(encoder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = build(spec["kind"], spec["name"], **dict(spec["kwargs"]))
    return fresh.eval()


class CopyLatentPredictor(nn.Module):
    """``predict(z, a) = z``: the world does not change."""

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return z


def copy_last_frame(frames: torch.Tensor, context: int) -> torch.Tensor:
    """Predict the next frame as the last context frame: ``frames[:, T-1]`` of ``[B, T+K, ...]``."""
    return frames[:, context - 1]
