"""One Trainer for every workflow: build or load modules, bind a loss and a freeze policy, train.

Read top to bottom: ``Trainer.__init__`` checks the configuration (before any data is read);
``fit`` builds everything (``wm_train.setup``), then runs the loop below: epochs of steps, each
step a forward, a backward and an update. What happens around a step or an epoch (EMA targets,
collapse diagnostics, the NaN/inf guard, logging, checkpoints) is a callback
(``wm_train.callbacks``); the run's counters and saved states live in a ``TrainState``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import wm_models
from wm_core import ConfigError, configurable, resolve_device, resolve_init_from, unknown_name
from wm_train import distributed as D
from wm_train.callbacks import (
    Callback,
    CallbackList,
    Checkpointer,
    CollapseWatch,
    EmaUpdate,
    MetricsLogger,
    NonFiniteGuard,
    NonFiniteLossError,
    StepMetrics,
)
from wm_train.config import DataConfig, OptimConfig
from wm_train.curves import LearningCurves
from wm_train.freeze import FreezePolicy, check_names, make_freeze
from wm_train.losses import LossOutput, WorldLoss, loss_name, make_loss
from wm_train.progress import ProgressLines
from wm_train.run_dir import RunDir
from wm_train.settings import check_trainer_settings
from wm_train.setup import Fit, check_encoder_fits, check_same_game, seed_everything, setup_fit
from wm_train.train_state import TrainState
from wm_train.world import ROLE_KINDS, World, check_role

__all__ = [
    "NonFiniteLossError",
    "Trainer",
    "check_encoder_fits",
    "check_same_game",
    "gradient_norm",
    "seed_everything",
]

Batch = dict[str, torch.Tensor]


class _LossModule(nn.Module):
    """world + loss as one module, so DistributedDataParallel sees the whole forward pass."""

    def __init__(self, world: World, loss: WorldLoss) -> None:
        super().__init__()
        self.world = world
        self.loss = loss

    def forward(self, batch: Batch) -> LossOutput:
        return self.loss(self.world, batch)


@configurable
class Trainer:
    """Train the modules of a world model on windows of a replay store.

    Args:
        workflow: name recorded in run.json (``jepa``, ``encoder_decoder``, ...).
        modules: role -> registry name of modules to build (``{'encoder': 'conv', ...}``).
        init_from: earlier run directory (or checkpoint file) to load modules from.
        load: roles to load from ``init_from``; a mapping renames (``{'encoder': 'target_encoder'}``
            loads the source's target encoder as this world's encoder).
        init_checkpoint: ``best`` or ``last`` checkpoint of ``init_from``.
        latent_dim: latent size of built modules (a loaded encoder's own size wins).
        loss: loss registry name, a ``WorldLoss``, or a function ``loss(world, batch)``.
        freeze: freeze-policy registry name or policy object.
        ema: target role -> source role, e.g. ``{'target_encoder': 'encoder'}``.
        ema_decay: constant decay, or ``(start, end)`` for a linear ramp over the run.
        data, optim: see ``DataConfig`` and ``OptimConfig`` (gin binds them separately).
        epochs: epochs of the whole run (``--resume`` continues up to it).
        updates_per_batch: optimiser steps on each batch drawn (more updates per sample at the
            same sample budget; the schedule and EMA ramp span every step).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        precision: ``auto`` (bf16 autocast on CUDA, fp32 elsewhere), ``bf16`` or ``fp32``.
        channels_last: conv weights in channels-last layout (faster on CPU and GPU).
        compile: ``torch.compile`` every module.
        cache_latents: ``auto`` caches the features of frozen front ends once per dataset.
        cache_max_gb: largest cache ``auto`` builds.
        run_dir: where run.json, metrics and checkpoints go; ``{init_from}`` and ``{workflow}``
            are filled in (``'{init_from}/reward_predictor'`` puts a derived run inside its source).
        log_every: steps between metric lines (metrics.jsonl, TensorBoard).
        progress: tqdm bar (default: when stderr is a terminal). Without the bar, a progress
            line goes to stderr after every epoch (a log file, Slurm or nohup shows the run).
        print_every: steps between those progress lines within an epoch (None: epochs only).
        callbacks: extra ``wm_train.Callback`` objects, called after the built-in ones
            (``Trainer.callbacks = [@MyCallback()]`` in gin).
        curves: write ``curves.png`` (learning curves, ``wm_train.curves``) into the run
            directory when ``fit`` ends, where matplotlib is installed.
    """

    def __init__(
        self,
        *,
        workflow: str = "custom",
        modules: Mapping[str, str] | None = None,
        init_from: str | None = None,
        load: Sequence[str] | Mapping[str, str] = (),
        init_checkpoint: str = "best",
        latent_dim: int = 64,
        loss: str | WorldLoss = "reconstruction",
        freeze: str | FreezePolicy = "none",
        ema: Mapping[str, str] | None = None,
        ema_decay: float | Sequence[float] = 0.999,
        data: DataConfig | None = None,
        optim: OptimConfig | None = None,
        epochs: int = 10,
        updates_per_batch: int = 1,
        seed: int = 0,
        device: str = "auto",
        precision: str = "auto",
        channels_last: bool = True,
        compile: bool = False,
        cache_latents: bool | str = "auto",
        cache_max_gb: float = 4.0,
        run_dir: str = "runs/run",
        log_every: int = 10,
        progress: bool | None = None,
        print_every: int | None = 100,
        callbacks: Sequence[Callback] = (),
        curves: bool = True,
    ) -> None:
        self.workflow = workflow
        self.modules = dict(modules or {})
        self.init_from = init_from
        self.load = dict(load) if isinstance(load, Mapping) else {role: role for role in load}
        self.init_checkpoint = init_checkpoint
        self.latent_dim = latent_dim
        self.loss = make_loss(loss)
        self.loss_name = loss_name(loss, self.loss)
        if "encoder" in self.modules:  # heads of auxiliary losses that shape a new encoder
            for role, name in getattr(self.loss, "aux_modules", {}).items():
                self.modules.setdefault(role, name)
        self.freeze = make_freeze(freeze)
        self.ema = dict(ema or {})
        self.ema_decay = ema_decay
        self.data = data if data is not None else DataConfig()
        self.optim = optim if optim is not None else OptimConfig()
        self.epochs = epochs
        self.updates_per_batch = updates_per_batch
        self.seed = seed
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self.compile = compile
        self.cache_latents = cache_latents
        self.cache_max_gb = cache_max_gb
        self.run_dir = run_dir.format(init_from=str(init_from or "").rstrip("/"), workflow=workflow)
        self.log_every = log_every
        self.progress = progress
        self.print_every = print_every
        self.callbacks = CallbackList(callbacks).callbacks  # refuses non-callbacks now
        self.curves = curves
        self.run: RunDir | None = None
        self._check_config()

    # ------------------------------------------------------------------ configuration
    def roles(self) -> list[str]:
        """Every role of the world: built, loaded and EMA targets."""
        return [*self.modules, *self.load, *self.ema]

    def frozen(self, epoch: int) -> set[str]:
        """Roles frozen during ``epoch`` (0-based): the policy's, and every EMA target."""
        return self.freeze.frozen(epoch) | set(self.ema)

    def trainable_order(self, upto_epoch: int) -> list[str]:
        """Roles that have trained by ``upto_epoch``, in the order they started."""
        order: list[str] = []
        for epoch in range(min(upto_epoch, self.epochs - 1) + 1):
            for role in self.roles():
                if role not in self.frozen(epoch) and role not in order:
                    order.append(role)
        return order

    def _check_config(self) -> None:
        """Every setting is in range and every name resolves, before any data is read, module
        built or file written."""
        check_trainer_settings(self)
        for role, name in self.modules.items():
            kind = ROLE_KINDS[check_role(role, "Trainer.modules")]
            known = wm_models.list_models(kind)
            if name not in known:
                raise unknown_name(f"{kind} (Trainer.modules[{role!r}])", name, known)
        for role in self.load:
            check_role(role, "Trainer.load")
            if role in self.modules:
                raise ValueError(
                    f"role {role!r} is both built (Trainer.modules) and loaded (Trainer.load)"
                )
        if self.load and not self.init_from:
            raise ValueError("Trainer.load names roles but Trainer.init_from is not set")
        if self.init_from:
            resolve_init_from(self.init_from, self.init_checkpoint)
        for target, source in self.ema.items():
            check_role(target, "Trainer.ema")
            if source not in [*self.modules, *self.load]:
                raise unknown_name(
                    "EMA source role (Trainer.ema)", source, [*self.modules, *self.load]
                )
        check_names(self.freeze, self.roles())
        if not self.trainable_order(0):
            raise ConfigError(
                "nothing to train: every module of the first epoch is frozen or an EMA target "
                f"(Trainer.modules, Trainer.load, Trainer.freeze, Trainer.ema: {self.roles()})"
            )
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(
                f"Trainer.precision must be auto, bf16 or fp32, got {self.precision!r}"
            )
        if self.cache_latents not in (True, False, "auto"):
            raise ValueError(
                f"Trainer.cache_latents must be True, False or 'auto', got {self.cache_latents!r}"
            )

    def default_callbacks(self, *, main: bool = True) -> list[Callback]:
        """EMA, collapse watch, NaN/inf guard, logging, checkpoints, progress lines where no
        bar is shown and the learning-curve plot: in the order they run."""
        progress = sys.stderr.isatty() if self.progress is None else self.progress
        return [
            EmaUpdate(),
            CollapseWatch(),
            NonFiniteGuard(),
            MetricsLogger(self.log_every, progress=progress and main),
            Checkpointer(),
            *([ProgressLines(self.print_every)] if main and not progress else []),
            *([LearningCurves()] if main and self.curves else []),
        ]

    # ------------------------------------------------------------------ run
    def fit(
        self, *, resume: bool = False, config_text: str | None = None, max_epochs: int | None = None
    ) -> dict[str, float]:
        """Train up to ``epochs`` (at most ``max_epochs`` more now); return the last metrics."""
        device = resolve_device(self.device)
        self.dist = D.init_distributed(device)
        self.run = None
        try:
            fit, state = setup_fit(
                self,
                device,
                self.dist,
                resume=resume,
                config_text=config_text,
                max_epochs=max_epochs,
            )
            self.world, self.targets, self.state = fit.world, fit.targets, state
            defaults = self.default_callbacks(main=self.dist.is_main)
            callbacks = CallbackList([*defaults, *self.callbacks])
            callbacks.on_fit_start(fit, state)
            metrics = self._run_epochs(fit, state, callbacks)
            if self.dist.is_main:
                done = fit.stop_epoch == self.epochs or fit.should_stop
                fit.run.update(status="finished" if done else "running")
            callbacks.on_fit_end(state, metrics)
            return metrics
        except BaseException as exc:
            if self.dist.is_main and self.run is not None and self.run.manifest is not None:
                self.run.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if self.run is not None:
                self.run.close()
            D.shutdown(self.dist)

    # ------------------------------------------------------------------ the loop
    def _run_epochs(self, fit: Fit, state: TrainState, callbacks: Callback) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for epoch in range(fit.start_epoch, fit.stop_epoch):
            metrics = self._train_epoch(fit, state, callbacks, epoch)
            metrics.update(self._validate(fit))
            callbacks.on_validation_end(state, metrics)
            state.epoch = epoch + 1
            state.record_score(metrics.get("val/loss", metrics["train/epoch_loss"]))
            callbacks.on_epoch_end(state, metrics)
            D.barrier(fit.dist)
            if fit.should_stop:
                break
        return metrics

    def _train_epoch(
        self, fit: Fit, state: TrainState, callbacks: Callback, epoch: int
    ) -> dict[str, float]:
        self._enter_epoch(fit, epoch)
        callbacks.on_epoch_start(state)
        loss_sum, seen, tic = torch.zeros((), device=fit.device), 0, time.perf_counter()
        for batch in fit.train_batches():
            batch = {k: v.to(fit.device, non_blocking=True) for k, v in batch.items()}
            state.samples_seen += len(batch["index"]) * fit.dist.world_size
            for _ in range(self.updates_per_batch):
                step = self._train_step(fit, state, callbacks, batch)
                loss_sum += step.loss * step.samples
                seen += step.samples
                callbacks.on_step_end(state, step)
        return {
            "epoch": epoch + 1,
            "samples_seen": state.samples_seen,
            "train/epoch_loss": float(loss_sum) / max(1, seen),
            "perf/train_samples_per_s": seen / max(time.perf_counter() - tic, 1e-9),
        }

    def _train_step(
        self, fit: Fit, state: TrainState, callbacks: Callback, batch: Batch
    ) -> StepMetrics:
        batch = {k: v.to(fit.device, non_blocking=True) for k, v in batch.items()}
        lr = self.optim.lr * self.optim.lr_factor(state.global_step, fit.total_steps)
        for group in fit.optimizer.param_groups:
            group["lr"] = lr
        with fit.autocast():
            loss, metrics = fit.step_fn(batch)
        value = D.all_reduce_sum(loss.detach().float(), fit.dist) / fit.dist.world_size
        callbacks.on_before_backward(state, value)
        fit.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = gradient_norm(fit.params, self.optim.grad_clip)
        callbacks.on_before_optimizer_step(state, grad_norm)
        fit.optimizer.step()
        state.global_step += 1
        samples = len(batch["index"]) * fit.dist.world_size
        return StepMetrics(loss=value, metrics=metrics, grad_norm=grad_norm, lr=lr, samples=samples)

    def _enter_epoch(self, fit: Fit, epoch: int) -> None:
        """Apply the freeze policy (optimiser groups, DDP wrapper when it changes), then set
        the epoch's data order and training mode."""
        frozen = self.frozen(epoch)
        if frozen != fit.frozen:
            fit.frozen = frozen
            fit.world.set_frozen(frozen)
            roles = [g["role"] for g in fit.optimizer.param_groups]
            for role in self.trainable_order(epoch):
                if role not in roles:
                    params = list(fit.world[role].parameters())
                    fit.optimizer.add_param_group({"params": params, "role": role})
            fit.params = [
                p for r in fit.world.roles() if r not in frozen for p in fit.world[r].parameters()
            ]
            fit.step_fn = self._step_fn(fit)
        fit.train_sampler.set_epoch(epoch)
        fit.world.train()

    def _step_fn(self, fit: Fit) -> Any:
        if not fit.dist.enabled:
            return lambda batch: self.loss(fit.world, batch)
        device = fit.device
        return DistributedDataParallel(
            _LossModule(fit.world, self.loss),
            device_ids=[device.index] if device.type == "cuda" else None,
        )

    @torch.no_grad()
    def _validate(self, fit: Fit) -> dict[str, float]:
        """Mean validation loss and metrics, with the do-nothing baseline of the same loss."""
        fit.world.eval()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        for batch in fit.val_batches():
            batch = {k: v.to(fit.device, non_blocking=True) for k, v in batch.items()}
            with fit.autocast():
                values = self._val_values(fit.world, batch)
            n = len(batch["index"])
            count += n
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float() * n
        if not fit.dist.enabled and count == 0:
            return {}
        keys = sorted(sums)
        stacked = torch.stack(
            [sums[k] for k in keys] + [torch.tensor(float(count), device=fit.device)]
        )
        stacked = D.all_reduce_sum(stacked, fit.dist)
        total = float(stacked[-1])
        if total == 0:
            return {}
        return {f"val/{k}": float(v) / total for k, v in zip(keys, stacked[:-1], strict=True)}

    def _val_values(self, world: World, batch: Batch) -> dict[str, torch.Tensor]:
        loss, metrics = self.loss(world, batch)
        values = {**metrics, "loss": loss.detach()}
        baseline = self.loss.baseline(world, batch)
        if baseline is not None:
            values["baseline_loss"] = baseline
        return values


def gradient_norm(params: Iterable[torch.Tensor], max_norm: float | None) -> torch.Tensor:
    """Total L2 norm of the gradients, clipping them to ``max_norm`` when it is set.

    ``clip_grad_norm_`` with an infinite bound measures without changing a gradient (the scale
    factor is exactly 1) and exists on every torch wm-train supports (``get_total_norm`` needs
    torch 2.6).
    """
    return torch.nn.utils.clip_grad_norm_(list(params), max_norm or math.inf)
