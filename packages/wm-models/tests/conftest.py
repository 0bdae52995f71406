"""Shared fixtures: gin hygiene and small inputs for every model kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gin
import pytest
import torch
from torch import nn

NUM_ACTIONS = 5
LATENT = 16


@pytest.fixture(autouse=True)
def clean_gin() -> Any:
    """gin's config is global: clear it around every test so bindings never leak."""
    gin.clear_config(clear_constants=True)
    yield
    gin.clear_config(clear_constants=True)


def construct_kwargs(kind: str, frame_shape: tuple[int, int, int], context: int) -> dict:
    """The contract's keyword arguments for a model of ``kind``."""
    if kind == "encoder":
        return {"frame_shape": frame_shape, "context": context, "latent_dim": LATENT}
    if kind in ("predictor", "inverse_head"):
        return {"latent_dim": LATENT, "num_actions": NUM_ACTIONS}
    if kind == "decoder":
        return {"latent_dim": LATENT, "frame_shape": frame_shape}
    return {"latent_dim": LATENT}


def make_inputs(
    kind: str, frame_shape: tuple[int, int, int], context: int, batch: int = 3, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    """Valid forward inputs for ``kind`` (frames in [0, 1], int64 actions, float latents)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "encoder":
        return (torch.rand(batch, context, *frame_shape, generator=g),)
    z = torch.randn(batch, LATENT, generator=g)
    if kind == "predictor":
        return z, torch.randint(0, NUM_ACTIONS, (batch,), generator=g)
    if kind == "decoder":
        return (z,)
    return z, torch.randn(batch, LATENT, generator=g)


def expected_shape(kind: str, frame_shape: tuple[int, int, int], batch: int = 3) -> tuple:
    return {
        "encoder": (batch, LATENT),
        "predictor": (batch, LATENT),
        "decoder": (batch, *frame_shape),
        "reward_head": (batch,),
        "inverse_head": (batch, NUM_ACTIONS),
    }[kind]


@pytest.fixture
def model_io() -> Any:
    """Namespace of helpers to build contract-shaped kwargs, inputs and expected shapes."""

    class IO:
        kwargs: Callable[..., dict] = staticmethod(construct_kwargs)
        inputs: Callable[..., tuple] = staticmethod(make_inputs)
        shape: Callable[..., tuple] = staticmethod(expected_shape)
        latent = LATENT
        num_actions = NUM_ACTIONS

    return IO


@pytest.fixture
def small_world() -> dict[str, nn.Module]:
    """One module of every role, built by name at 16x16 grayscale with T=2."""
    import copy

    from wm_models import build

    torch.manual_seed(0)
    shape, t = (1, 16, 16), 2
    encoder = build("encoder", "conv", **construct_kwargs("encoder", shape, t), channels=(8, 16))
    return {
        "encoder": encoder,
        "target_encoder": copy.deepcopy(encoder),
        "predictor": build("predictor", "transformer", **construct_kwargs("predictor", shape, t)),
        "decoder": build("decoder", "hybrid", **construct_kwargs("decoder", shape, t)),
        "reward_head": build("reward_head", "mlp", **construct_kwargs("reward_head", shape, t)),
    }
