"""Inverse dynamics as an auxiliary loss: predict the action from (z, z_next) of the encoder.

On Atari the action moves a few pixels of the player's own sprite, while a next-state loss is
dominated by everything else on the screen (enemies, the mothership, the background); both
world models then learn dynamics that ignore the action (shuffled actions score like the
recorded ones). A cross-entropy on the action taken between two encoded states asks the
encoder to keep what the action changes, as in the inverse models of Pathak et al. (2017,
ICM) and of agent-centric representations (AC-State, Lamb et al. 2022). The head is the role
``inverse_head`` (registry kind ``inverse_head``); it is built only in runs that build their
encoder, since a run that loads a frozen encoder has no representation to shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wm_train.settings import check_real
from wm_train.world import World

__all__ = ["ROLE", "InverseDynamics"]

ROLE = "inverse_head"


class InverseDynamics:
    """A weighted inverse-dynamics term of one loss (``key`` prefixes the gin names in errors)."""

    def __init__(self, key: str, *, weight: float = 0.0, head: str = "mlp") -> None:
        check_real(f"{key}.inverse_weight", weight, 0.0)
        self.weight = weight
        self.head = head

    @property
    def active(self) -> bool:
        return bool(self.weight)

    @property
    def aux_modules(self) -> dict[str, str]:
        """The role this term needs built beside the encoder."""
        return {ROLE: self.head} if self.active else {}

    def applies(self, world: World) -> bool:
        """Active, with a head in the world and an encoder that trains."""
        trains = "encoder" in world and "encoder" not in world.frozen
        return self.active and ROLE in world and trains

    def add_to(
        self,
        loss: torch.Tensor,
        world: World,
        z: torch.Tensor,
        z_next: torch.Tensor,
        actions: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``loss`` plus weight x cross-entropy of the action taken between ``z`` and ``z_next``
        [B, D], with the cross-entropy and the accuracy as metrics (and, in validation, the
        accuracy of always naming the batch's most common action, the chance level)."""
        logits = world[ROLE](z, z_next).float()
        target = actions.long()
        ce = F.cross_entropy(logits, target)
        metrics = {
            "inverse/ce": ce.detach(),
            "inverse/accuracy": (logits.argmax(-1) == target).float().mean().detach(),
        }
        if not world.training:
            counts = torch.bincount(target, minlength=logits.shape[-1])
            metrics["inverse/majority_accuracy"] = counts.max().float() / max(1, target.numel())
        return loss + self.weight * ce, metrics
