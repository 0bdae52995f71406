"""An outside package's loss and freeze policy, registered through ``wm_train.plugins``."""

from __future__ import annotations

import torch

from wm_train.freeze import FREEZE_POLICIES, FreezeModules
from wm_train.losses import BaseLoss, register_loss


@register_loss("example_latent_mse")
class LatentMSE(BaseLoss):
    """MSE between the predicted next latent and the encoder's latent of the next state."""

    def __call__(self, world, batch):
        frames = batch["frames"].float() / 255.0
        t = frames.shape[1] - batch["actions"].shape[1]
        z_next = world.predictor(world.encoder(frames[:, :t]), batch["actions"][:, 0])
        target = world.encoder(frames[:, 1 : t + 1]).detach()
        loss = torch.nn.functional.mse_loss(z_next, target)
        return loss, {"latent_mse": loss.detach()}


@FREEZE_POLICIES.register("example_frozen_encoder")
def frozen_encoder() -> FreezeModules:
    """Train everything but the encoder."""
    return FreezeModules(["encoder"])
