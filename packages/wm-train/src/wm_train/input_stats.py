"""Training-split statistics of the inputs a trained module standardises, set before the first step.

A reward head reads latents whose scale depends on the world model that made them (a JEPA's are
~20x wider than an encoder-decoder's); a head on raw latents mostly measures that scale. A module
that declares ``standardized_inputs`` (the wm-models reward heads: ``("z", "z_next")``) gets the
per-dimension mean and std of those features over the whole train split, exactly as the loss
feeds them to it: from the latent cache when there is one, else from ``loss.features`` on every
training window. The predicted ``z_next`` of ``dynamics_reward_predictor`` is measured as the
predictor makes it, not as the encoder would.

This happens once, when a run starts: the statistics are buffers of the module, so a resumed run
takes them from its checkpoint and a loaded module that already has them keeps them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch

from wm_train.world import World

if TYPE_CHECKING:
    from wm_train.trainer import Trainer

Batch = dict[str, torch.Tensor]

__all__ = ["Moments", "set_input_statistics", "standardized_roles"]


class Moments:
    """Per-dimension count, mean and std of rows seen batch by batch.

    Each batch is reduced on its own device; the running totals are merged in float64 on the CPU
    (Chan et al.'s parallel update), so a long split loses no precision. ``std`` is the
    population std (divides by the count).
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, x: torch.Tensor) -> None:
        """Add the rows of ``x`` [B, D] (any leading shape: every axis but the last is rows)."""
        x = x.detach().float().reshape(-1, x.shape[-1])
        n = x.shape[0]
        if n == 0:
            return
        mean = x.mean(0)
        m2 = (x - mean).pow(2).sum(0)
        mean, m2 = mean.double().cpu(), m2.double().cpu()
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta.pow(2) * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> torch.Tensor:
        if self.m2 is None:
            raise ValueError("no rows seen")
        return (self.m2 / self.count).sqrt()


def standardized_roles(trainer: Trainer, world: World) -> dict[str, tuple[str, ...]]:
    """Roles trained during the run whose module standardises inputs and has no statistics yet
    (a frozen module, or one loaded with its statistics, is left as it is)."""
    roles = world.roles()
    trained = {r for e in range(trainer.epochs) for r in roles if r not in trainer.frozen(e)}
    out = {}
    for role in world.roles():
        module = world[role]
        names = tuple(getattr(module, "standardized_inputs", ()))
        if role in trained and names and not getattr(module, "has_input_statistics", False):
            out[role] = names
    return out


def _features(trainer: Trainer, world: World, batch: Batch, names: list[str]) -> Batch:
    """The batch itself when it holds cached features, else the loss's features of it."""
    if all(n in batch for n in names):
        return batch
    if trainer.loss.feeds is None:
        raise ValueError(
            f"a trained module standardises {', '.join(names)} but loss {trainer.loss_name!r} "
            "has no features() to measure them on; give the loss `feeds` and `features`, or "
            "build the module with standardize=False"
        )
    feats = trainer.loss.features(world, batch)
    missing = [n for n in names if n not in feats]
    if missing:
        raise ValueError(
            f"loss {trainer.loss_name!r} features() gives {', '.join(sorted(feats))}, not "
            f"{', '.join(missing)}, which a trained module standardises"
        )
    return feats


@torch.no_grad()
def set_input_statistics(
    trainer: Trainer,
    world: World,
    train_split: Callable[[], Iterable[Batch]],
    device: torch.device,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> dict[str, int]:
    """Measure every standardised input over ``train_split`` (each training window once) and
    set it on the modules that need it; returns role -> number of windows measured."""
    roles = standardized_roles(trainer, world)
    if not roles:
        return {}
    names = sorted({n for inputs in roles.values() for n in inputs})
    moments = {n: Moments() for n in names}
    world.eval()
    for batch in train_split():
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with autocast():
            feats = _features(trainer, world, batch, names)
        for name in names:
            moments[name].update(feats[name])
    if moments[names[0]].count == 0:
        raise ValueError("cannot measure input statistics on an empty train split")
    for role, inputs in roles.items():
        world[role].set_input_statistics(
            {n: moments[n].mean.float() for n in inputs},
            {n: moments[n].std.float() for n in inputs},
            count=moments[inputs[0]].count,
        )
    return {role: moments[inputs[0]].count for role, inputs in roles.items()}
