"""Modules that create their weights on first use (``nn.LazyLinear``, ``nn.LazyConv2d``, ...).

Until its first forward pass such a module holds ``UninitializedParameter`` objects, which
cannot be copied into an EMA target, converted to channels-last or handed to an optimiser. The
Trainer therefore runs one dry forward pass per lazy module, on zeros of the shapes the data
contract fixes, before any of that happens (PyTorch's documented pattern for lazy modules), and
refuses a module the pass cannot materialise with a line naming the role and the reason.

A checkpoint of a lazy module is rebuilt lazy; loading its state dict gives every parameter the
saved shape (torch's lazy-module contract), so ``load_modules`` below also resumes such runs.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from wm_core import ConfigError
from wm_train.world import ROLE_KINDS

__all__ = ["example_inputs", "has_lazy_parameters", "materialise_lazy"]

DRY_BATCH = 2  # two samples: batch statistics (BatchNorm, VICReg-style terms) are defined


def has_lazy_parameters(module: nn.Module) -> bool:
    """Whether any submodule still waits for its first forward pass to create its weights."""
    return any(
        isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in module.modules()
    )


def example_inputs(
    role: str, *, context: int, frame_shape: tuple[int, ...], latent_dim: int
) -> tuple[torch.Tensor, ...]:
    """Zeros shaped as the Trainer feeds ``role``: frames in [0, 1] for an encoder, latents
    (and an action) for the rest."""
    z = torch.zeros(DRY_BATCH, latent_dim)
    kind = ROLE_KINDS[role]
    if kind == "encoder":
        return (torch.zeros(DRY_BATCH, context, *frame_shape),)
    if kind == "predictor":
        return (z, torch.zeros(DRY_BATCH, dtype=torch.long))
    if kind == "decoder":
        return (z,)
    return (z, z)


def materialise_lazy(
    parts: Mapping[str, nn.Module],
    names: Mapping[str, str],
    *,
    context: int,
    frame_shape: tuple[int, ...],
    latent_dim: int,
) -> None:
    """One dry forward pass (eval mode, no grad) per module with uninitialised parameters."""
    for role, module in parts.items():
        if not has_lazy_parameters(module):
            continue
        inputs = example_inputs(
            role, context=context, frame_shape=frame_shape, latent_dim=latent_dim
        )
        shapes = ", ".join(str(list(x.shape)) for x in inputs)
        what = f"{role} {names.get(role, type(module).__name__)!r}"
        training = module.training
        module.eval()
        try:
            with torch.no_grad():
                module(*inputs)
        except Exception as exc:
            raise ConfigError(
                f"{what} creates its weights on first use, and a dry forward pass on inputs of "
                f"shape {shapes} failed ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                "create its weights in the constructor, or make it accept that input"
            ) from exc
        finally:
            module.train(training)
        if has_lazy_parameters(module):
            raise ConfigError(
                f"{what} creates its weights on first use, and a dry forward pass on inputs of "
                f"shape {shapes} left some uninitialised (a branch that input never takes); "
                "create them in the constructor"
            )
