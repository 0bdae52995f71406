"""The built-in losses: ``reconstruction`` (pixel loss of the decoded predicted frames),
``jepa`` (L1 to the EMA target encoder's latents) and ``reward`` (MSE of a reward head).

What every loss provides, the registry and the shared helpers live in ``wm_train.loss_base``;
their names are importable from here as well.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from wm_core import configurable, unknown_name
from wm_train.diagnostics import batch_std, latent_stats
from wm_train.inverse_dynamics import InverseDynamics
from wm_train.latent_reg import LatentRegulariser, variance_covariance
from wm_train.loss_base import (
    LOSSES,
    BaseLoss,
    Batch,
    FunctionLoss,
    LossFn,
    LossOutput,
    WorldLoss,
    check_horizon,
    context_length,
    loss_name,
    make_loss,
    register_loss,
    step_weighted_mean,
    trains_encoder,
    unit,
)
from wm_train.pixel_loss import (
    PIXEL_LOSSES,
    foreground_mask,
    median_frame,
    pixel_error,
    train_frames,
)
from wm_train.settings import check_int, check_real
from wm_train.world import World

__all__ = [
    "LOSSES",
    "BaseLoss",
    "FunctionLoss",
    "JepaLoss",
    "LossFn",
    "LossOutput",
    "ReconstructionLoss",
    "RewardLoss",
    "WorldLoss",
    "check_horizon",
    "context_length",
    "loss_name",
    "make_loss",
    "register_loss",
    "step_weighted_mean",
    "unit",
    "variance_covariance",
]


@register_loss("reconstruction")
@configurable("reconstruction", module="losses")
class ReconstructionLoss(BaseLoss):
    """Pixel loss between decode(predict(encode(s), a)) and the next frame (the seed's: L1).

    ``pixel_loss``: ``'l1'`` (the seed's), ``'mse'``, ``'foreground_l1'`` or ``'foreground_mse'``
    (pixels off the training split's per-pixel median frame weigh ``1 + fg_weight``; see
    ``wm_train.pixel_loss``). The plain whole-frame L1 of the next frame is logged as
    ``pixel_l1`` whatever the loss, so runs with different losses stay comparable.
    ``rollout_steps`` K > 1 rolls the predictor open-loop for K actions and decodes every
    predicted latent (needs horizon >= K); the per-step losses are averaged with weights rho^i.
    ``var_weight``/``cov_weight`` (VICReg) and ``sigreg_weight`` (LeJEPA's SIGReg over
    ``sigreg_directions`` random directions) act on the encoder's latent while it trains, as
    does ``inverse_weight`` (an inverse-dynamics head ``inverse_head`` names the action from
    the encoded state and next state; see ``wm_train.inverse_dynamics``).
    """

    feeds = ("encoder", "predictor")
    horizon = 1
    # class-level defaults: the seed's loss, also for subclasses that skip __init__
    pixel_loss = "l1"
    rollout_steps = 1
    rho = 1.0
    fg_weight = 10.0
    threshold = 0.02
    background: torch.Tensor | None = None
    regulariser: LatentRegulariser | None = None
    inverse: InverseDynamics | None = None

    def __init__(
        self,
        pixel_loss: str = "l1",
        rollout_steps: int = 1,
        rho: float = 1.0,
        fg_weight: float = 10.0,
        threshold: float = 0.02,
        var_weight: float = 0.0,
        cov_weight: float = 0.0,
        sigreg_weight: float = 0.0,
        sigreg_directions: int = 256,
        inverse_weight: float = 0.0,
        inverse_head: str = "mlp",
    ) -> None:
        key = "losses.reconstruction"
        if pixel_loss not in PIXEL_LOSSES:
            raise unknown_name(f"pixel loss ({key}.pixel_loss)", pixel_loss, PIXEL_LOSSES)
        check_int(f"{key}.rollout_steps", rollout_steps, 1)
        check_real(f"{key}.rho", rho, 0.0, 1.0, low_open=True)
        check_real(f"{key}.fg_weight", fg_weight, 0.0)
        check_real(f"{key}.threshold", threshold, 0.0, 1.0, high_open=True)
        self.pixel_loss = pixel_loss
        self.rollout_steps = self.horizon = rollout_steps
        self.rho = rho
        self.fg_weight = fg_weight
        self.threshold = threshold
        self.background = None
        self.regulariser = LatentRegulariser(
            key,
            var_weight=var_weight,
            cov_weight=cov_weight,
            sigreg_weight=sigreg_weight,
            sigreg_directions=sigreg_directions,
        )
        self.inverse = InverseDynamics(key, weight=inverse_weight, head=inverse_head)
        self.aux_modules = self.inverse.aux_modules

    @property
    def foreground(self) -> bool:
        return self.pixel_loss.startswith("foreground")

    def prepare(self, train_set: Any) -> None:
        """A foreground-weighted loss measures the background: the per-pixel median frame of
        the training split (a new run only; a resumed one reads it from its checkpoint)."""
        if self.foreground:
            median = median_frame(train_frames(train_set))
            self.background = median.reshape(tuple(train_set.frame_shape))

    def state_dict(self) -> dict[str, Any]:
        state = dict(self.regulariser.state_dict()) if self.regulariser else {}
        if self.background is not None:
            state["background"] = self.background.detach().cpu().clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "background" in state:
            self.background = torch.as_tensor(state["background"]).to(torch.uint8)
        if self.regulariser is not None:
            self.regulariser.load_state_dict(state)

    def features(self, world: World, batch: Batch) -> Batch:
        """Latent, predicted latents and target frames; with K > 1 ``z_next`` [B, K, D] and
        ``next_frame`` [B, K, C, H, W], else without the step axis (the seed's cache layout)."""
        t, k = context_length(batch), self.rollout_steps
        check_horizon("losses.reconstruction.rollout_steps", k, batch)
        frames = batch["frames"]
        z = world.encoder(unit(frames[:, :t]))
        pred, preds = z, []
        for i in range(k):
            pred = world.predictor(pred, batch["actions"][:, i])
            preds.append(pred)
        return {
            "z": z,
            "z_next": preds[0] if k == 1 else torch.stack(preds, 1),
            "next_frame": frames[:, t] if k == 1 else frames[:, t : t + k],
            "last_frame": frames[:, t - 1],
        }

    def _pixel(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return pixel_error(
            pred,
            target,
            self.pixel_loss,
            background=self.background,
            fg_weight=self.fg_weight,
            threshold=self.threshold,
        )

    def __call__(self, world: World, batch: Batch) -> tuple[torch.Tensor, Batch]:
        feats = batch if "z_next" in batch else self.features(world, batch)
        k = self.rollout_steps
        z_next, target = feats["z_next"], unit(feats["next_frame"])
        if k == 1:
            z_next, target = z_next[:, None], target[:, None]
        pred = world.decoder(z_next.flatten(0, 1)).float().unflatten(0, tuple(z_next.shape[:2]))
        steps = [self._pixel(pred[:, i], target[:, i]) for i in range(k)]
        loss = step_weighted_mean(steps, self.rho)
        l1 = [F.l1_loss(pred[:, i].detach(), target[:, i]) for i in range(k)]
        metrics = {"pixel_l1": l1[0]}
        if k > 1:
            metrics.update({f"pixel_l1/step{i + 1}": v for i, v in enumerate(l1)})
        if not world.training:
            metrics["copy_pixel_l1"] = F.l1_loss(unit(feats["last_frame"]), target[:, 0])
            if self.foreground and self.background is not None:
                mask = foreground_mask(target[:, 0], self.background, self.threshold)
                metrics["foreground_fraction"] = mask.float().mean()
        z = feats.get("z")
        if z is not None and trains_encoder(world):
            if self.regulariser is not None and self.regulariser.active:
                loss, reg = self.regulariser.add_to(loss, z, world.training)
                metrics.update(reg)
            if self.inverse is not None and self.inverse.applies(world) and "frames" in batch:
                t = context_length(batch)
                z_true = world.encoder(unit(batch["frames"][:, 1 : t + 1]))
                loss, inv = self.inverse.add_to(loss, world, z, z_true, batch["actions"][:, 0])
                metrics.update(inv)
            if world.training:
                metrics["collapse/std_mean"] = batch_std(z).mean()
            else:
                metrics.update(latent_stats(z))
        metrics["loss"] = loss.detach()
        return loss, metrics

    def baseline(self, world: World, batch: Batch) -> torch.Tensor:
        """Copy the last context frame to every predicted step, scored by the training loss."""
        if "last_frame" in batch:
            last, nxt = batch["last_frame"], batch["next_frame"]
        else:
            t, k = context_length(batch), self.rollout_steps
            last = batch["frames"][:, t - 1]
            nxt = batch["frames"][:, t] if k == 1 else batch["frames"][:, t : t + k]
        last, nxt = unit(last), unit(nxt)
        if self.rollout_steps == 1:
            return self._pixel(last, nxt)
        steps = [self._pixel(last, nxt[:, i]) for i in range(self.rollout_steps)]
        return step_weighted_mean(steps, self.rho)


@register_loss("jepa")
@configurable("jepa", module="losses")
class JepaLoss(BaseLoss):
    """L1 between predicted latents and the EMA target encoder's latents of the next states.

    ``rollout_steps`` K > 1 rolls the predictor open-loop for K actions (needs horizon >= K);
    the per-step losses are averaged with weights rho^i (``rho`` = 1: the plain mean).
    ``var_weight``/``cov_weight`` add VICReg's anti-collapse terms on the online latents and
    ``sigreg_weight`` LeJEPA's SIGReg over ``sigreg_directions`` random directions;
    ``inverse_weight`` an inverse-dynamics head ``inverse_head`` that names the action from the
    online latents of the state and the next state (``wm_train.inverse_dynamics``).
    """

    def __init__(
        self,
        rollout_steps: int = 1,
        var_weight: float = 0.0,
        cov_weight: float = 0.0,
        target: str = "target_encoder",
        rho: float = 1.0,
        sigreg_weight: float = 0.0,
        sigreg_directions: int = 256,
        inverse_weight: float = 0.0,
        inverse_head: str = "mlp",
    ) -> None:
        check_int("losses.jepa.rollout_steps", rollout_steps, 1)
        check_real("losses.jepa.rho", rho, 0.0, 1.0, low_open=True)
        self.regulariser = LatentRegulariser(
            "losses.jepa",
            var_weight=var_weight,
            cov_weight=cov_weight,
            sigreg_weight=sigreg_weight,
            sigreg_directions=sigreg_directions,
        )
        self.rollout_steps = rollout_steps
        self.var_weight = var_weight
        self.cov_weight = cov_weight
        self.sigreg_weight = sigreg_weight
        self.rho = rho
        self.target = target
        self.horizon = rollout_steps
        self.inverse = InverseDynamics("losses.jepa", weight=inverse_weight, head=inverse_head)
        self.aux_modules = self.inverse.aux_modules

    def state_dict(self) -> dict[str, Any]:
        return self.regulariser.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.regulariser.load_state_dict(state)

    def _targets(self, world: World, batch: Batch, t: int) -> torch.Tensor:
        """Target latents [K, B, D] of the states after each of the K actions, in one call."""
        k = self.rollout_steps
        check_horizon("losses.jepa.rollout_steps", k, batch)
        frames = batch["frames"]
        states = torch.stack([frames[:, i + 1 : i + 1 + t] for i in range(k)])  # [K, B, T, ...]
        with torch.no_grad():
            z = world[self.target](unit(states.flatten(0, 1)))
        return z.unflatten(0, (k, frames.shape[0])).float()

    def __call__(self, world: World, batch: Batch) -> tuple[torch.Tensor, Batch]:
        t = context_length(batch)
        frames = batch["frames"]
        inverse = self.inverse.applies(world)
        if inverse:  # the state and the next state through the online encoder in one call
            both = torch.cat([frames[:, :t], frames[:, 1 : t + 1]])
            z, z_true = world.encoder(unit(both)).chunk(2)
        else:
            z = world.encoder(unit(frames[:, :t]))
        targets = self._targets(world, batch, t)
        pred, steps = z, []
        for i in range(self.rollout_steps):
            pred = world.predictor(pred, batch["actions"][:, i])
            steps.append(F.l1_loss(pred.float(), targets[i]))
        loss = step_weighted_mean(steps, self.rho)
        metrics = {"latent_l1": torch.stack(steps).mean().detach()}
        if self.rollout_steps > 1:
            metrics.update({f"latent_l1/step{i + 1}": s.detach() for i, s in enumerate(steps)})
        if self.regulariser.active:
            loss, reg = self.regulariser.add_to(loss, z, world.training)
            metrics.update(reg)
        if inverse:
            loss, inv = self.inverse.add_to(loss, world, z, z_true, batch["actions"][:, 0])
            metrics.update(inv)
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
        steps = [F.l1_loss(z, targets[i]) for i in range(self.rollout_steps)]
        return step_weighted_mean(steps, self.rho)


@register_loss("reward")
@configurable("reward", module="losses")
class RewardLoss(BaseLoss):
    """MSE of reward_head(z, z_next) against the reward of the step s -> s'.

    ``next_latent='true'`` takes z_next = encoder(s'); ``'predicted'`` takes predictor(z, a),
    which judges whether the dynamics model kept what the reward depends on.

    ``event_weight`` weighs the squared error of steps with a non-zero reward against the
    others (a weighted mean). Rewards are rare in most games (2.4% of Assault's steps): with
    weight 1 the head learns to predict the mean everywhere, which scores well in MSE and
    ranks imagined action sequences no better than chance; the zero/event ratio of the
    training steps (about 40 on Assault) weighs both kinds equally, for a head that is asked
    to rank (planning) rather than to be calibrated.
    """

    def __init__(self, next_latent: str = "true", event_weight: float = 1.0) -> None:
        if next_latent not in ("true", "predicted"):
            raise ValueError(
                f"losses.reward.next_latent must be 'true' or 'predicted', got {next_latent!r}"
            )
        if not event_weight > 0:
            raise ValueError(f"losses.reward.event_weight must be > 0, got {event_weight!r}")
        self.next_latent = next_latent
        self.event_weight = float(event_weight)
        self.reward_source = next_latent
        self.feeds = ("encoder",) if next_latent == "true" else ("encoder", "predictor")
        self.horizon = 1
        self._reward_sum: torch.Tensor | float = 0.0
        self._reward_count = 0
        self._event_count: torch.Tensor | int = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "reward_sum": float(self._reward_sum),
            "reward_count": self._reward_count,
            "event_count": int(self._event_count),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._reward_sum = state["reward_sum"]
        self._reward_count = state["reward_count"]
        self._event_count = state.get("event_count", 0)

    def _weights(self, target: torch.Tensor) -> torch.Tensor:
        return torch.where(target != 0, self.event_weight, 1.0)

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
            self._event_count = self._event_count + (target != 0).sum()
        pred = world.reward_head(feats["z"], feats["z_next"]).float()
        if self.event_weight == 1.0:
            loss = F.mse_loss(pred, target)
            return loss, {"loss": loss.detach()}
        weight = self._weights(target)
        loss = (weight * (pred - target) ** 2).sum() / weight.sum()
        return loss, {"loss": loss.detach(), "mse": F.mse_loss(pred, target).detach()}

    def baseline(self, world: World, batch: Batch) -> torch.Tensor:
        """Predict, for every step, the constant that minimises the loss on the training
        rewards seen so far (their mean, weighted as the loss weighs them), scored by the loss."""
        target = batch["rewards"][:, 0].float()
        events = float(self._event_count)
        total = self._reward_count + (self.event_weight - 1.0) * events
        mean = self.event_weight * float(self._reward_sum) / max(1.0, total)
        weight = self._weights(target)
        return (weight * (mean - target) ** 2).sum() / weight.sum()
