"""Progress as plain lines when no terminal shows a tqdm bar (a log file, Slurm, nohup).

A bar redrawn with carriage returns is unreadable in a log, and without one a run is silent
until it finishes. ``ProgressLines`` prints one line per epoch, and one every ``every`` steps
within it, as Lightning's and SB3's loggers do::

    wm-train: epoch 1/3  step 100/1200  loss 0.2143  812 samples/s  eta 0:14:02
    wm-train: epoch 1/3  step 400/1200  loss 0.2011  val_loss 0.1987  805 samples/s  eta 0:10:31
"""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING

from wm_train.callbacks import Callback, StepMetrics

if TYPE_CHECKING:
    from wm_train.setup import Fit
    from wm_train.train_state import TrainState

__all__ = ["ProgressLines", "format_duration"]


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` (``?`` before any rate is known)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    total = round(seconds)
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


class ProgressLines(Callback):
    """Epoch, step, loss, validation loss, samples/s and time left, on stderr, flushed.

    ``every``: steps between lines within an epoch (None: one line per epoch only). The time
    left extrapolates the steps still to run in this ``fit`` call from the rate so far,
    validation included.
    """

    def __init__(self, every: int | None = 100, *, prefix: str = "wm-train: ") -> None:
        self.every = every
        self.prefix = prefix
        self.tic = self.window_tic = 0.0
        self.start_step = self.stop_step = self.window_samples = self.epoch_samples = 0
        self.epoch_tic = 0.0

    def on_fit_start(self, fit: Fit, state: TrainState) -> None:
        super().on_fit_start(fit, state)
        self.tic = time.perf_counter()
        self.start_step = state.global_step
        self.stop_step = fit.stop_epoch * fit.steps_per_epoch

    def on_epoch_start(self, state: TrainState) -> None:
        self.window_tic = self.epoch_tic = time.perf_counter()
        self.window_samples = self.epoch_samples = 0

    def on_step_end(self, state: TrainState, batch_metrics: StepMetrics) -> None:
        self.window_samples += batch_metrics.samples
        self.epoch_samples += batch_metrics.samples
        if not self.every or state.global_step % self.every:
            return
        if state.global_step % self.fit.steps_per_epoch == 0:
            return  # the epoch's own line follows at once
        now = time.perf_counter()
        rate = self.window_samples / max(now - self.window_tic, 1e-9)
        self.window_tic, self.window_samples = now, 0
        self._print(state, state.epoch + 1, f"loss {float(batch_metrics.loss):.4g}", rate)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        parts = [f"loss {metrics['train/epoch_loss']:.4g}"]
        if "val/loss" in metrics:
            parts.append(f"val_loss {metrics['val/loss']:.4g}")
        rate = self.epoch_samples / max(time.perf_counter() - self.epoch_tic, 1e-9)
        self._print(state, state.epoch, "  ".join(parts), rate)

    def _print(self, state: TrainState, epoch: int, losses: str, rate: float) -> None:
        done = state.global_step - self.start_step
        elapsed = time.perf_counter() - self.tic
        left = (self.stop_step - state.global_step) * elapsed / done if done else math.inf
        total = self.fit.trainer.epochs * self.fit.steps_per_epoch
        print(
            f"{self.prefix}epoch {epoch}/{self.fit.trainer.epochs}  "
            f"step {state.global_step}/{total}  {losses}  {rate:.0f} samples/s  "
            f"eta {format_duration(max(0.0, left))}",
            file=sys.stderr,
            flush=True,
        )
