"""Losses: ``loss(world, batch) -> (loss, metrics)`` objects, registered by name and gin-bound.

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

Subclass ``BaseLoss`` and write only ``__call__``: the rest has safe defaults. A plain function
``loss(world, batch)`` is wrapped the same way by ``make_loss``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from wm_core import Registry, configurable
from wm_train.diagnostics import batch_std, latent_stats
from wm_train.settings import check_int, check_real
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


def variance_covariance(z: torch.Tensor, eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg terms: hinge on per-dim std below 1, and squared off-diagonal covariance / D.

    Both are zero for a one-sample batch (an epoch's last, say), where they are undefined.
    """
    if z.shape[0] < 2:
        zero = z.float().sum() * 0.0
        return zero, zero
    z = z.float() - z.float().mean(0)
    std = torch.sqrt(z.var(0) + eps)
    var = F.relu(1.0 - std).mean()
    n, d = z.shape
    cov = (z.T @ z) / max(1, n - 1)
    off = cov - torch.diag(torch.diag(cov))
    return var, off.pow(2).sum() / d


@register_loss("reconstruction")
@configurable("reconstruction", module="losses")
class ReconstructionLoss(BaseLoss):
    """L1 between decode(predict(encode(s), a)) and the next frame, as in the seed."""

    feeds = ("encoder", "predictor")
    horizon = 1

    def features(self, world: World, batch: Batch) -> Batch:
        t = context_length(batch)
        z = world.encoder(unit(batch["frames"][:, :t]))
        return {
            "z_next": world.predictor(z, batch["actions"][:, 0]),
            "next_frame": batch["frames"][:, t],
            "last_frame": batch["frames"][:, t - 1],
        }

    def __call__(self, world: World, batch: Batch) -> tuple[torch.Tensor, Batch]:
        feats = batch if "z_next" in batch else self.features(world, batch)
        pred = world.decoder(feats["z_next"]).float()
        loss = F.l1_loss(pred, unit(feats["next_frame"]))
        return loss, {"loss": loss.detach()}

    def baseline(self, world: World, batch: Batch) -> torch.Tensor:
        """Copy the last context frame."""
        if "last_frame" in batch:
            last, nxt = batch["last_frame"], batch["next_frame"]
        else:
            t = context_length(batch)
            last, nxt = batch["frames"][:, t - 1], batch["frames"][:, t]
        return F.l1_loss(unit(last), unit(nxt))


@register_loss("jepa")
@configurable("jepa", module="losses")
class JepaLoss(BaseLoss):
    """L1 between predicted latents and the EMA target encoder's latents of the next states.

    ``rollout_steps`` K > 1 rolls the predictor open-loop for K actions (needs horizon >= K).
    ``var_weight``/``cov_weight`` add a VICReg-style anti-collapse term on the online latents.
    """

    def __init__(
        self,
        rollout_steps: int = 1,
        var_weight: float = 0.0,
        cov_weight: float = 0.0,
        target: str = "target_encoder",
    ) -> None:
        check_int("losses.jepa.rollout_steps", rollout_steps, 1)
        check_real("losses.jepa.var_weight", var_weight, 0.0)
        check_real("losses.jepa.cov_weight", cov_weight, 0.0)
        self.rollout_steps = rollout_steps
        self.var_weight = var_weight
        self.cov_weight = cov_weight
        self.target = target
        self.horizon = rollout_steps

    def _targets(self, world: World, batch: Batch, t: int) -> torch.Tensor:
        """Target latents [K, B, D] of the states after each of the K actions, in one call."""
        k = self.rollout_steps
        if batch["actions"].shape[1] < k:
            raise ValueError(
                f"losses.jepa.rollout_steps={k} needs windows with horizon >= {k}, "
                f"got {batch['actions'].shape[1]} (DataConfig.horizon)"
            )
        frames = batch["frames"]
        states = torch.stack([frames[:, i + 1 : i + 1 + t] for i in range(k)])  # [K, B, T, ...]
        with torch.no_grad():
            z = world[self.target](unit(states.flatten(0, 1)))
        return z.unflatten(0, (k, frames.shape[0])).float()

    def __call__(self, world: World, batch: Batch) -> tuple[torch.Tensor, Batch]:
        t = context_length(batch)
        z = world.encoder(unit(batch["frames"][:, :t]))
        targets = self._targets(world, batch, t)
        pred, steps = z, []
        for i in range(self.rollout_steps):
            pred = world.predictor(pred, batch["actions"][:, i])
            steps.append(F.l1_loss(pred.float(), targets[i]))
        loss = torch.stack(steps).mean()
        metrics = {"latent_l1": loss.detach()}
        if self.rollout_steps > 1:
            metrics.update({f"latent_l1/step{i + 1}": s.detach() for i, s in enumerate(steps)})
        if self.var_weight or self.cov_weight:
            var, cov = variance_covariance(z)
            loss = loss + self.var_weight * var + self.cov_weight * cov
            metrics.update({"reg/variance": var.detach(), "reg/covariance": cov.detach()})
        metrics["loss"] = loss.detach()
        if world.training:
            metrics["collapse/std_mean"] = batch_std(z).mean()
        else:
            metrics.update(latent_stats(z))
        return loss, metrics

    def baseline(self, world: World, batch: Batch) -> torch.Tensor:
        """Predict that nothing changes, in the target's own space: target(s') = target(s).

        Comparing the online latent with the target's would add the online/target offset and
        make the baseline look worse than doing nothing really is.
        """
        t = context_length(batch)
        with torch.no_grad():
            z = world[self.target](unit(batch["frames"][:, :t])).float()
        targets = self._targets(world, batch, t)
        return torch.stack([F.l1_loss(z, targets[i]) for i in range(self.rollout_steps)]).mean()


@register_loss("reward")
@configurable("reward", module="losses")
class RewardLoss(BaseLoss):
    """MSE of reward_head(z, z_next) against the reward of the step s -> s'.

    ``next_latent='true'`` takes z_next = encoder(s'); ``'predicted'`` takes predictor(z, a),
    which judges whether the dynamics model kept what the reward depends on.
    """

    def __init__(self, next_latent: str = "true") -> None:
        if next_latent not in ("true", "predicted"):
            raise ValueError(
                f"losses.reward.next_latent must be 'true' or 'predicted', got {next_latent!r}"
            )
        self.next_latent = next_latent
        self.reward_source = next_latent
        self.feeds = ("encoder",) if next_latent == "true" else ("encoder", "predictor")
        self.horizon = 1
        self._reward_sum: torch.Tensor | float = 0.0
        self._reward_count = 0

    def state_dict(self) -> dict[str, Any]:
        return {"reward_sum": float(self._reward_sum), "reward_count": self._reward_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._reward_sum = state["reward_sum"]
        self._reward_count = state["reward_count"]

    def features(self, world: World, batch: Batch) -> Batch:
        t = context_length(batch)
        frames = batch["frames"]
        if self.next_latent == "true":
            both = world.encoder(unit(torch.cat([frames[:, :t], frames[:, 1 : t + 1]])))
            z, z_next = both.chunk(2)
        else:
            z = world.encoder(unit(frames[:, :t]))
            z_next = world.predictor(z, batch["actions"][:, 0])
        return {"z": z, "z_next": z_next}

    def __call__(self, world: World, batch: Batch) -> tuple[torch.Tensor, Batch]:
        feats = batch if "z" in batch else self.features(world, batch)
        target = batch["rewards"][:, 0].float()
        if world.training:  # running mean of training rewards, for the baseline
            self._reward_sum = self._reward_sum + target.detach().sum()
            self._reward_count += target.numel()
        pred = world.reward_head(feats["z"], feats["z_next"]).float()
        loss = F.mse_loss(pred, target)
        return loss, {"loss": loss.detach()}

    def baseline(self, world: World, batch: Batch) -> torch.Tensor:
        """Predict the mean training reward seen so far for every step."""
        target = batch["rewards"][:, 0].float()
        mean = self._reward_sum / max(1, self._reward_count)
        return F.mse_loss(torch.zeros_like(target) + mean, target)
