"""Everything a run needs to continue exactly where it stopped, and its checkpoint form.

``TrainState`` is the one reader and writer of a checkpoint's ``extra`` dict: the training loop
counts steps and epochs in it, ``capture`` copies the optimiser, EMA, loss and RNG states into it
before a checkpoint, and ``restore`` puts them back on ``--resume``. The keys of ``extra`` are
those every earlier wm-train version wrote, so old checkpoints still resume.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import wm_models
from wm_core import to_plain

if TYPE_CHECKING:
    from wm_train.ema import EmaTarget
    from wm_train.losses import WorldLoss

__all__ = ["TrainState", "rng_state", "set_rng_state"]

SCHEDULER = "warmup_cosine"


@dataclass
class TrainState:
    """Counters and saved states of one run; ``epoch`` counts completed epochs, ``global_step``
    optimiser steps and ``samples_seen`` training windows drawn (over all ranks; a window trained
    on ``Trainer.updates_per_batch`` times counts once).

    ``improved`` (the last epoch set a new best score) is not saved: it only tells the
    checkpoint callback to write ``best.pt`` too. Nor is ``samples_seen``: checkpoints fall on
    epoch ends, where it is the epochs done times the windows of an epoch (set when a run
    starts or resumes). ``train_seconds`` (wall time of the finished epochs, validation
    included) is saved and carried across resumes, so a run's cost is known from its folder.
    """

    workflow: str = "custom"
    epoch: int = 0
    global_step: int = 0
    best: float = math.inf
    score: float | None = None
    optimizer: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=dict)
    ema: dict[str, dict[str, Any]] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    collapse_reference: float | None = None
    improved: bool = field(default=False, compare=False)
    samples_seen: int = field(default=0, compare=False)
    train_seconds: float = field(default=0.0, compare=False)

    # -- the checkpoint's extra dict ---------------------------------------------------------

    def to_extra(self) -> dict[str, Any]:
        """The checkpoint's ``extra``: tensors and plain values only (``weights_only`` loads it)."""
        extra = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del extra["improved"], extra["samples_seen"]
        return to_plain(extra, nonfinite="keep", keep=(torch.Tensor,), str_keys=False)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> TrainState:
        """Read ``extra`` back; keys a checkpoint lacks keep their defaults."""
        known = {f.name for f in dataclasses.fields(cls)} - {"improved", "samples_seen"}
        values = {k: v for k, v in extra.items() if k in known}
        state = cls(**values)
        state.epoch, state.global_step = int(state.epoch), int(state.global_step)
        state.best = float(state.best) if state.best is not None else math.inf
        state.loss = dict(state.loss or {})
        return state

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> TrainState:
        """The state saved in a wm-models checkpoint (``last.pt`` of the run being resumed)."""
        return cls.from_extra(wm_models.load_checkpoint(path).get("extra", {}))

    # -- live objects ------------------------------------------------------------------------

    def param_group_roles(self) -> list[str]:
        """Roles of the saved optimiser's parameter groups, in their order."""
        return [group["role"] for group in self.optimizer.get("param_groups", [])]

    def record_score(self, score: float) -> bool:
        """Set this epoch's score; True (and ``improved``) when it beats the best so far."""
        self.score = float(score)
        self.improved = self.score < self.best
        self.best = min(self.best, self.score)
        return self.improved

    def capture(
        self,
        *,
        optimizer: torch.optim.Optimizer,
        targets: Mapping[str, EmaTarget],
        loss: WorldLoss,
        total_steps: int,
        sampler_seed: int,
    ) -> None:
        """Copy the states of the live objects in, just before a checkpoint is written."""
        self.optimizer = optimizer.state_dict()
        self.scheduler = {"name": SCHEDULER, "step": self.global_step, "total": total_steps}
        self.ema = {role: target.state_dict() for role, target in targets.items()}
        self.rng = rng_state()
        self.data = {"sampler_seed": sampler_seed, "next_epoch": self.epoch}
        self.loss = loss.state_dict()

    def restore(
        self,
        *,
        optimizer: torch.optim.Optimizer,
        targets: Mapping[str, EmaTarget],
        loss: WorldLoss,
    ) -> None:
        """Load the saved states into the live objects; the RNG last, as the loop starts."""
        optimizer.load_state_dict(self.optimizer)
        for role, target in targets.items():
            target.load_state_dict(self.ema[role])
        if self.loss:
            loss.load_state_dict(self.loss)
        set_rng_state(self.rng)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) generator states as tensors and plain types."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what ``rng_state`` saved."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npst = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["gauss"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
