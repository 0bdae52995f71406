"""What a loss is: ``loss(world, batch) -> (loss, metrics)`` objects, registered by name and
gin-bound, and the helpers the built-in losses (``wm_train.losses``) share.

Every loss the Trainer runs is a ``WorldLoss``: besides ``__call__`` it declares
- ``horizon``: how many actions a window must hold (the JEPA rollout length, else 1);
- ``baseline(world, batch)``: the same loss for a do-nothing model, logged beside validation so a
  run shows at once whether it beats copying (``None``: no baseline);
- ``feeds`` and ``features(world, batch)``: the roles that compute its inputs and those inputs.
  When every role in ``feeds`` is frozen the Trainer computes the features once per dataset and
  calls the loss on cached features instead of frames (``feeds = None``: never cached);
- ``reward_source``: which next latent a reward head reads (``'true'``, ``'predicted'``, None),
  recorded in run.json for wm-eval;
- ``state_dict`` / ``load_state_dict``: running state saved in checkpoints (e.g. reward mean).

Optionally, ``aux_modules``: role -> registry name of heads only the loss uses (the
inverse-dynamics head); the Trainer builds them beside ``Trainer.modules`` in runs that build
their encoder.

Optionally, ``prepare(train_set)``: called once before the first step of a new run with the
training split (a ``wm_data.WindowDataset``), for state measured on the data, such as the
background frame of the foreground-weighted pixel losses; a resumed run reads it back from its
checkpoint instead.

Subclass ``BaseLoss`` and write only ``__call__``: the rest has safe defaults. A plain function
``loss(world, batch)`` is wrapped the same way by ``make_loss``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import torch

from wm_core import Registry
from wm_train.world import World

Batch = dict[str, torch.Tensor]
LossOutput = tuple[torch.Tensor, dict[str, torch.Tensor]]

LOSSES = Registry("loss", plugin_group="wm_train.plugins", what="losses")


@runtime_checkable
class WorldLoss(Protocol):
    """What the Trainer reads from a loss (see the module docstring)."""

    horizon: int
    feeds: tuple[str, ...] | None
    reward_source: str | None

    def __call__(self, world: World, batch: Batch) -> LossOutput: ...

    def features(self, world: World, batch: Batch) -> Batch: ...

    def baseline(self, world: World, batch: Batch) -> torch.Tensor | None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class BaseLoss:
    """Safe defaults for every ``WorldLoss`` member but ``__call__``."""

    horizon: int = 1
    feeds: tuple[str, ...] | None = None
    reward_source: str | None = None
    aux_modules: Mapping[str, str] = MappingProxyType({})

    def __call__(self, world: World, batch: Batch) -> LossOutput:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(world, batch)")

    def features(self, world: World, batch: Batch) -> Batch:
        """Inputs computed by the ``feeds`` roles; only called when ``feeds`` is set."""
        raise NotImplementedError(
            f"{type(self).__name__} sets feeds={self.feeds} but defines no features()"
        )

    def baseline(self, world: World, batch: Batch) -> torch.Tensor | None:
        """No do-nothing baseline unless a loss defines one."""
        return None

    def prepare(self, train_set: Any) -> None:
        """Nothing to measure on the training split by default."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Stateless by default: any saved state is ignored."""


class FunctionLoss(BaseLoss):
    """A plain ``loss(world, batch)`` function as a ``WorldLoss`` with the defaults."""

    def __init__(self, fn: Callable[[World, Batch], LossOutput]) -> None:
        self.fn = fn

    def __call__(self, world: World, batch: Batch) -> LossOutput:
        return self.fn(world, batch)

    def __repr__(self) -> str:
        return f"FunctionLoss({getattr(self.fn, '__qualname__', self.fn)!r})"


#: Kept for code that typed losses as plain callables.
LossFn = WorldLoss

_MEMBERS = (
    "horizon",
    "feeds",
    "reward_source",
    "features",
    "baseline",
    "state_dict",
    "load_state_dict",
)


def register_loss(name: str, *, force: bool = False) -> Callable[[Any], Any]:
    """Add a loss (a class, or a factory of losses) under ``name``."""
    return LOSSES.register(name, force=force)


def make_loss(spec: str | WorldLoss | Callable[[World, Batch], LossOutput]) -> WorldLoss:
    """A registry name (gin supplies its arguments), a ``WorldLoss``, or a plain function."""
    loss = LOSSES.create(spec)
    if isinstance(loss, WorldLoss):
        return loss
    missing = [m for m in _MEMBERS if not hasattr(loss, m)]
    if callable(loss) and len(missing) == len(_MEMBERS):
        return FunctionLoss(loss)
    raise TypeError(
        f"Trainer.loss {loss!r} is not a WorldLoss: it lacks {', '.join(missing) or '__call__'}; "
        "subclass wm_train.BaseLoss, which supplies the defaults"
    )


def loss_name(spec: str | WorldLoss | Callable[..., Any], loss: WorldLoss) -> str:
    """The registry name of a loss for run.json, else its qualified class or function name."""
    if isinstance(spec, str):
        return spec
    target = loss.fn if isinstance(loss, FunctionLoss) else type(loss)
    for name in LOSSES.names():
        if LOSSES.get(name) is target:
            return name
    return f"{target.__module__}.{target.__qualname__}"


def unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames to float in [0, 1], on their device."""
    return frames.to(torch.float32) / 255.0


def context_length(batch: Batch) -> int:
    """T, from frames [B, T+K, ...] and actions [B, K]."""
    return batch["frames"].shape[1] - batch["actions"].shape[1]


def check_horizon(key: str, steps: int, batch: Batch) -> None:
    """A K-step loss needs windows with at least K actions."""
    if batch["actions"].shape[1] < steps:
        raise ValueError(
            f"{key}={steps} needs windows with horizon >= {steps}, "
            f"got {batch['actions'].shape[1]} (DataConfig.horizon)"
        )


def step_weighted_mean(steps: list[torch.Tensor], rho: float) -> torch.Tensor:
    """Mean of per-step losses, step i (0-based) weighted rho^i and the weights normalised to
    sum to one (TD-MPC2's discount over the rollout; rho = 1 is the plain mean)."""
    stacked = torch.stack(steps)
    if rho == 1.0:
        return stacked.mean()
    weights = torch.tensor([rho**i for i in range(len(steps))], device=stacked.device)
    return (stacked * weights).sum() / weights.sum()


def trains_encoder(world: World) -> bool:
    """The world's encoder is being trained (not frozen, not loaded and kept fixed)."""
    return "encoder" in world and "encoder" not in world.frozen
