"""Per-step and per-epoch behaviour of training, outside the loop: EMA targets, collapse
diagnostics, the NaN/inf guard, logging and checkpoints are callbacks, and so is anything a user
adds through ``Trainer.callbacks`` (gin-bindable) without editing the loop.

Hooks, in the order the loop calls them (``state.epoch`` counts completed epochs, so during an
epoch it is that epoch's 0-based index; ``state.global_step`` counts optimiser steps taken)::

    on_fit_start(fit, state)                 once, after set-up (a resumed state is restored)
      on_epoch_start(state)
        on_before_backward(state, loss)      loss averaged over ranks, before its gradients
        on_before_optimizer_step(state, grad_norm)
        on_step_end(state, batch_metrics)    after the update; global_step counts this step
      on_validation_end(state, metrics)      may add entries to ``metrics``
      on_epoch_end(state, metrics)           state.epoch, score and best are this epoch's
    on_fit_end(state, metrics)               after the last epoch

Every rank calls every hook; only ``fit.dist.is_main`` writes files. A callback may raise to stop
the run at once, or set ``fit.should_stop`` to end it after the current epoch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gin
import torch
from tqdm.auto import tqdm

from wm_core.run_format import OPERATIVE_CONFIG_FILE
from wm_train.budget import training_record
from wm_train.diagnostics import CollapseMonitor
from wm_train.run_dir import save_checkpoint

if TYPE_CHECKING:
    from wm_train.setup import Fit
    from wm_train.train_state import TrainState

__all__ = [
    "Callback",
    "CallbackList",
    "Checkpointer",
    "CollapseWatch",
    "EmaUpdate",
    "MetricsLogger",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "StepMetrics",
]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass
class StepMetrics:
    """What one optimiser step produced."""

    loss: torch.Tensor  # mean over ranks, detached
    metrics: dict[str, torch.Tensor]  # the loss's own metrics on this rank's batch
    grad_norm: torch.Tensor  # before clipping
    lr: float
    samples: int  # over all ranks


class Callback:
    """Base class: every hook does nothing; ``on_fit_start`` keeps ``fit`` as ``self.fit``."""

    fit: Fit

    def on_fit_start(self, fit: Fit, state: TrainState) -> None:
        self.fit = fit

    def on_epoch_start(self, state: TrainState) -> None:
        pass

    def on_before_backward(self, state: TrainState, loss: torch.Tensor) -> None:
        pass

    def on_before_optimizer_step(self, state: TrainState, grad_norm: torch.Tensor) -> None:
        pass

    def on_step_end(self, state: TrainState, batch_metrics: StepMetrics) -> None:
        pass

    def on_validation_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        pass

    def on_epoch_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        pass

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        pass


class CallbackList(Callback):
    """Calls each hook on every callback, in order."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"Trainer.callbacks: {cb!r} is not a wm_train.Callback (subclass it and "
                    "override the hooks you need)"
                )

    def on_fit_start(self, fit: Fit, state: TrainState) -> None:
        self.fit = fit
        for cb in self.callbacks:
            cb.on_fit_start(fit, state)

    def on_epoch_start(self, state: TrainState) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(state)

    def on_before_backward(self, state: TrainState, loss: torch.Tensor) -> None:
        for cb in self.callbacks:
            cb.on_before_backward(state, loss)

    def on_before_optimizer_step(self, state: TrainState, grad_norm: torch.Tensor) -> None:
        for cb in self.callbacks:
            cb.on_before_optimizer_step(state, grad_norm)

    def on_step_end(self, state: TrainState, batch_metrics: StepMetrics) -> None:
        for cb in self.callbacks:
            cb.on_step_end(state, batch_metrics)

    def on_validation_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_validation_end(state, metrics)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(state, metrics)

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        for cb in self.callbacks:
            cb.on_fit_end(state, metrics)


class EmaUpdate(Callback):
    """Moves every EMA target towards its source after each optimiser step."""

    def on_step_end(self, state: TrainState, batch_metrics: StepMetrics) -> None:
        step = state.global_step - 1  # 0-based index of the step just taken
        for target, source in self.fit.trainer.ema.items():
            self.fit.targets[target].update(self.fit.world[source], step)


class CollapseWatch(Callback):
    """Takes the first training batch's latent spread as the reference, then warns and logs
    ``collapse/warning`` when validation latents fall far below it or lose rank."""

    def __init__(self, *, min_std_ratio: float = 0.01, min_rank: float = 1.5) -> None:
        self.monitor = CollapseMonitor(min_std_ratio=min_std_ratio, min_rank=min_rank)

    def on_fit_start(self, fit: Fit, state: TrainState) -> None:
        super().on_fit_start(fit, state)
        self.monitor.reference = state.collapse_reference

    def on_step_end(self, state: TrainState, batch_metrics: StepMetrics) -> None:
        std = batch_metrics.metrics.get("collapse/std_mean")
        if self.monitor.reference is None and std is not None:
            self.monitor.observe_start(float(std))
            state.collapse_reference = self.monitor.reference

    def on_validation_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        if "val/collapse/std_mean" in metrics:
            message = self.monitor.check(metrics)
            metrics["collapse/warning"] = float(message is not None)


class NonFiniteGuard(Callback):
    """Stops the run on a NaN or infinite loss or gradient norm, before the update is applied,
    so the weights and the last checkpoint stay finite."""

    def _fail(
        self, state: TrainState, what: str, value: torch.Tensor, then: str, check: str
    ) -> None:
        raise NonFiniteLossError(
            f"{what} is {value.item()} at epoch {state.epoch + 1}, step {state.global_step + 1} "
            f"(workflow {self.fit.trainer.workflow!r}); {then}. The last good checkpoint is "
            f"{self.fit.run.last}. Lower OptimConfig.lr or check {check}."
        )

    def on_before_backward(self, state: TrainState, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            self._fail(state, "loss", loss, "stopping", "the data")

    def on_before_optimizer_step(self, state: TrainState, grad_norm: torch.Tensor) -> None:
        if not torch.isfinite(grad_norm):
            self._fail(
                state,
                "gradient norm",
                grad_norm,
                "stopping before the update",
                "the loss and the data",
            )


class MetricsLogger(Callback):
    """metrics.jsonl and TensorBoard every ``every`` steps and at each epoch's end, the tqdm bar,
    and the operative gin config after the first step."""

    def __init__(self, every: int = 10, progress: bool = False) -> None:
        self.every = max(1, every)
        self.progress = progress
        self.bar: Any = None
        self.wrote_operative = False
        self.window_tic, self.window_samples = 0.0, 0

    def on_fit_start(self, fit: Fit, state: TrainState) -> None:
        super().on_fit_start(fit, state)
        self.wrote_operative = fit.resumed

    def on_epoch_start(self, state: TrainState) -> None:
        self.bar = tqdm(
            total=self.fit.steps_per_epoch,
            desc=f"epoch {state.epoch + 1}/{self.fit.trainer.epochs}",
            disable=not self.progress,
            leave=False,
        )
        self.window_tic, self.window_samples = time.perf_counter(), 0

    def on_step_end(self, state: TrainState, batch_metrics: StepMetrics) -> None:
        main = self.fit.dist.is_main
        self.bar.update(1)
        self.window_samples += batch_metrics.samples
        if main and not self.wrote_operative:
            self.fit.run.write_text(OPERATIVE_CONFIG_FILE, gin.operative_config_str())
            self.wrote_operative = True
        if state.global_step % self.every:
            return
        now = time.perf_counter()
        sps = self.window_samples / max(now - self.window_tic, 1e-9)
        self.window_tic, self.window_samples = now, 0
        value = float(batch_metrics.loss)
        record = {f"train/{k}": float(v) for k, v in batch_metrics.metrics.items()}
        record.update(
            {
                "train/loss": value,
                "train/lr": batch_metrics.lr,
                "samples_seen": state.samples_seen,
                "charts/samples_per_s": sps,
                "epoch": state.epoch + 1,
                "train/grad_norm": float(batch_metrics.grad_norm),
            }
        )
        self.bar.set_postfix(loss=f"{value:.4f}", sps=f"{sps:.0f}")
        if main:
            self.fit.run.log(state.global_step, record)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        self.bar.close()
        if self.fit.dist.is_main:
            self.fit.run.log(state.global_step, metrics)


class Checkpointer(Callback):
    """``last.pt`` after every epoch and ``best.pt`` on a new best score, each with every role
    and the whole ``TrainState``; then run.json's ``epochs_done`` and ``training`` (samples
    seen, steps taken and wall time against the planned budget)."""

    epoch_tic: float | None = None

    def on_epoch_start(self, state: TrainState) -> None:
        self.epoch_tic = time.perf_counter()

    def on_epoch_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        fit = self.fit
        if self.epoch_tic is not None:
            state.train_seconds += time.perf_counter() - self.epoch_tic
        if not fit.dist.is_main:
            return
        state.capture(
            optimizer=fit.optimizer,
            targets=fit.targets,
            loss=fit.trainer.loss,
            total_steps=fit.total_steps,
            sampler_seed=fit.trainer.seed,
        )
        modules = {role: fit.world[role] for role in fit.world.roles()}
        save_checkpoint(fit.run.last, modules, state)
        if state.improved:
            save_checkpoint(fit.run.best, modules, state)
        manifest = fit.run.manifest
        training = training_record(fit.trainer, state, fit.steps_per_epoch, fit.samples_per_epoch)
        extra = {**(manifest.extra if manifest is not None else {}), "training": training}
        fit.run.update(epochs_done=state.epoch, extra=extra)
