"""How much a run trains: optimiser steps and training windows per epoch, and the record of the
budget planned and spent that run.json keeps (``training``), so trials with equal sample budgets
can be checked from their run folders alone.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wm_train.train_state import TrainState
    from wm_train.trainer import Trainer

__all__ = ["prepare_loss", "samples_per_epoch_of", "steps_per_epoch_of", "training_record"]


def steps_per_epoch_of(trainer: Trainer, size: int) -> int:
    """Optimiser steps per epoch on each rank (``DataConfig.batch_size`` is global): one per
    batch, ``Trainer.updates_per_batch`` times."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    per_rank = math.ceil(size / world_size)
    batches = max(1, math.ceil(per_rank / max(1, trainer.data.batch_size // world_size)))
    return batches * trainer.updates_per_batch


def samples_per_epoch_of(size: int) -> int:
    """Training windows one epoch draws over all ranks (DistributedSampler pads the split to a
    multiple of the processes)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return math.ceil(size / world_size) * world_size


def training_record(
    trainer: Trainer, state: TrainState, steps_per_epoch: int, samples_per_epoch: int
) -> dict[str, Any]:
    """run.json's ``training``: the budget asked for and how much of it is spent, so that trials
    with equal sample budgets can be checked from their run folders."""
    return {
        "batch_size": trainer.data.batch_size,
        "updates_per_batch": trainer.updates_per_batch,
        "samples_per_epoch": samples_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "planned_samples": trainer.epochs * samples_per_epoch,
        "planned_steps": trainer.epochs * steps_per_epoch,
        "samples_seen": state.samples_seen,
        "steps": state.global_step,
        "train_seconds": round(float(state.train_seconds), 3),
    }


def prepare_loss(loss: Any, train_set: Any) -> None:
    """Let the loss measure what it needs on the training split (``prepare``, optional)."""
    prepare = getattr(loss, "prepare", None)
    if callable(prepare):
        prepare(train_set)
