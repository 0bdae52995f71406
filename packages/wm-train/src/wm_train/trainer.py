"""One Trainer for every workflow: build or load modules, bind a loss and a freeze policy, train.

Read top to bottom: ``Trainer.__init__`` checks the configuration (before any data is read),
``fit`` sets up data, world, optimiser and run directory, then runs the epoch loop.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gin
import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

import wm_data
import wm_models
from wm_train import distributed as D
from wm_train.config import DataConfig, OptimConfig
from wm_train.diagnostics import CollapseMonitor
from wm_train.ema import EmaTarget, decay_schedule
from wm_train.freeze import FreezePolicy, always_frozen, check_names, make_freeze
from wm_train.latent_cache import CacheTooLargeError, LatentCache, index_batches
from wm_train.losses import LossFn, make_loss
from wm_train.registry import unknown
from wm_train.run_dir import (
    RunDir,
    resolve_init_from,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from wm_train.world import ROLE_KINDS, World, build_module, check_role, spec_kwargs

Batch = dict[str, torch.Tensor]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


class _LossModule(nn.Module):
    """world + loss as one module, so DistributedDataParallel sees the whole forward pass."""

    def __init__(self, world: World, loss: LossFn) -> None:
        super().__init__()
        self.world = world
        self.loss = loss

    def forward(self, batch: Batch) -> tuple[torch.Tensor, Batch]:
        return self.loss(self.world, batch)


@gin.configurable
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
        loss: loss registry name or callable ``loss(world, batch) -> (loss, metrics)``.
        freeze: freeze-policy registry name or policy object.
        ema: target role -> source role, e.g. ``{'target_encoder': 'encoder'}``.
        ema_decay: constant decay, or ``(start, end)`` for a linear ramp over the run.
        data, optim: see ``DataConfig`` and ``OptimConfig`` (gin binds them separately).
        epochs: epochs of the whole run (``--resume`` continues up to it).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        precision: ``auto`` (bf16 autocast on CUDA, fp32 elsewhere), ``bf16`` or ``fp32``.
        channels_last: conv weights in channels-last layout (faster on CPU and GPU).
        compile: ``torch.compile`` every module.
        cache_latents: ``auto`` caches the features of frozen front ends once per dataset.
        cache_max_gb: largest cache ``auto`` builds.
        run_dir: where run.json, metrics and checkpoints go; ``{init_from}`` and ``{workflow}``
            are filled in (``'{init_from}/reward_predictor'`` puts a derived run inside its source).
        log_every: steps between metric lines.
        progress: tqdm bar (default: when stderr is a terminal).
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
        loss: str | LossFn = "reconstruction",
        freeze: str | FreezePolicy = "none",
        ema: Mapping[str, str] | None = None,
        ema_decay: float | Sequence[float] = 0.999,
        data: DataConfig | None = None,
        optim: OptimConfig | None = None,
        epochs: int = 10,
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
    ) -> None:
        self.workflow = workflow
        self.modules = dict(modules or {})
        self.init_from = init_from
        self.load = dict(load) if isinstance(load, Mapping) else {role: role for role in load}
        self.init_checkpoint = init_checkpoint
        self.latent_dim = latent_dim
        self.loss = make_loss(loss)
        self.freeze = make_freeze(freeze)
        self.ema = dict(ema or {})
        self.ema_decay = ema_decay
        self.data = data if data is not None else DataConfig()
        self.optim = optim if optim is not None else OptimConfig()
        self.epochs = epochs
        self.seed = seed
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self.compile = compile
        self.cache_latents = cache_latents
        self.cache_max_gb = cache_max_gb
        self.run_dir = run_dir.format(init_from=str(init_from or "").rstrip("/"), workflow=workflow)
        self.log_every = max(1, log_every)
        self.progress = progress
        self._check_config()

    # ------------------------------------------------------------------ configuration checks
    def roles(self) -> list[str]:
        return [*self.modules, *self.load, *self.ema]

    def _check_config(self) -> None:
        """Every name in the config resolves, before any data is read or module built."""
        for role, name in self.modules.items():
            kind = ROLE_KINDS[check_role(role, "Trainer.modules")]
            known = wm_models.list_models(kind)
            if name not in known:
                raise unknown(f"{kind} (Trainer.modules[{role!r}])", name, known)
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
                raise unknown("EMA source role (Trainer.ema)", source, [*self.modules, *self.load])
        check_names(self.freeze, self.roles())
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(
                f"Trainer.precision must be auto, bf16 or fp32, got {self.precision!r}"
            )
        if self.cache_latents not in (True, False, "auto"):
            raise ValueError(
                f"Trainer.cache_latents must be True, False or 'auto', got {self.cache_latents!r}"
            )

    # ------------------------------------------------------------------ run
    def fit(
        self, *, resume: bool = False, config_text: str | None = None, max_epochs: int | None = None
    ) -> dict[str, float]:
        """Train up to ``epochs`` (at most ``max_epochs`` more now); return the last metrics."""
        device = D.resolve_device(self.device)
        dist_info = D.init_distributed(device)
        self.run: RunDir | None = None
        try:
            return self._fit(device, dist_info, resume, config_text, max_epochs)
        except BaseException as exc:
            if dist_info.is_main and self.run is not None and self.run.info:
                self.run.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if self.run is not None:
                self.run.close()
            D.shutdown(dist_info)

    def _fit(
        self,
        device: torch.device,
        dist_info: D.DistInfo,
        resume: bool,
        config_text: str | None,
        max_epochs: int | None,
    ) -> dict[str, float]:
        self.device_ = device
        self.dist = dist_info
        main = dist_info.is_main
        seed_everything(self.seed)

        # --- modules that come from checkpoints decide context and latent size
        init_run, init_ckpt = (None, None)
        if self.init_from:
            init_run, init_ckpt = resolve_init_from(self.init_from, self.init_checkpoint)
        run = RunDir(self.run_dir, tensorboard=main)
        resumed: dict[str, nn.Module] = {}
        resumed_extra: dict[str, Any] = {}
        restart = False
        if resume and not run.last.exists():
            if not run.started_without_checkpoint():
                raise FileNotFoundError(f"--resume: no checkpoint at {run.last}")
            # stopped before its first checkpoint: nothing to resume, so start over in place
            resume, restart = False, True
        if resume:
            resumed = wm_models.load_modules(run.last)
            resumed_extra = wm_models.load_checkpoint(run.last).get("extra", {})
            self._check_resumed(run.last, resumed)
        loaded = self._load_modules(init_ckpt) if self.load else {}
        reference = {**loaded, **resumed}

        # --- data
        enc_spec = spec_kwargs(reference["encoder"]) if "encoder" in reference else {}
        context = self.data.context or enc_spec.get("context") or 4
        horizon = self.data.horizon or getattr(self.loss, "horizon", 1)
        train_set = self._dataset("train", context, horizon)
        val_set = self._dataset("val", context, horizon)
        if len(train_set) == 0:
            raise ValueError(self._no_windows(train_set, context, horizon))
        frame_shape = tuple(int(s) for s in train_set.frame_shape)
        env_id = train_set.metadata.get("env_id")
        if init_run is not None:
            check_same_game(init_run, env_id)
        num_actions = int(train_set.num_actions)
        if "encoder" in reference:
            check_encoder_fits(enc_spec, frame_shape, context)
        latent_dim = self._latent_dim(reference)

        # --- world: built, loaded, EMA targets
        parts: dict[str, nn.Module] = {}
        for role, name in self.modules.items():
            if role in resumed:
                parts[role] = resumed[role]
                continue
            parts[role] = build_module(
                role,
                name,
                frame_shape=frame_shape,
                context=context,
                num_actions=num_actions,
                latent_dim=latent_dim,
            )
        for role in self.load:
            parts[role] = resumed[role] if role in resumed else loaded[role]
        self.targets: dict[str, EmaTarget] = {}
        steps_per_epoch = self._steps_per_epoch(len(train_set))
        total_steps = self.epochs * steps_per_epoch
        for target, source in self.ema.items():
            ema = EmaTarget(parts[source], decay_schedule(self.ema_decay, total_steps))
            if target in resumed:
                ema.module.load_state_dict(resumed[target].state_dict())
                ema.load_state_dict(resumed_extra["ema"][target])
            self.targets[target] = ema
            parts[target] = ema.module
        world = World(parts).to(device)
        self.world = world
        if self.channels_last:  # faster convolutions with oneDNN on CPU and cuDNN on GPU
            world.to(memory_format=torch.channels_last)

        # --- frozen for the whole run: their outputs can be cached
        use_cache = self._use_cache(always_frozen(self.freeze, self.epochs) | set(self.targets))

        # --- run directory
        info = self._run_info(world, init_run, context, horizon, latent_dim, use_cache)
        info["data"]["env_id"] = env_id
        if main:
            run.create(info, config_text, resume=resume, restart=restart)
        self.run = run

        # --- data order: the same per-epoch permutation on every restart
        train_sampler = DistributedSampler(
            train_set, dist_info.world_size, dist_info.rank, shuffle=True, seed=self.seed
        )
        val_sampler = (
            DistributedSampler(val_set, dist_info.world_size, dist_info.rank, shuffle=False)
            if len(val_set)
            else None
        )
        batch_size = self._rank_batch_size()
        if self.compile:
            for role in world.roles():
                world[role].compile()
        if use_cache:
            try:
                caches = {
                    split: self._build_cache(world, dataset)
                    for split, dataset in (("train", train_set), ("val", val_set))
                    if len(dataset)
                }
            except CacheTooLargeError as exc:
                if self.cache_latents is True:
                    raise CacheTooLargeError(
                        f"{exc} (Trainer.cache_max_gb={self.cache_max_gb}); raise it or set "
                        "Trainer.cache_latents='auto' to re-encode every batch instead"
                    ) from exc
                warnings.warn(f"{exc}: re-encoding every batch instead", stacklevel=2)
                use_cache = False
                if main:
                    run.update(cached_latents=False)
        if use_cache:

            def train_batches() -> Iterable[Batch]:
                return (caches["train"].batch(i) for i in index_batches(train_sampler, batch_size))

            def val_batches() -> Iterable[Batch]:
                return (caches["val"].batch(i) for i in index_batches(val_sampler, batch_size))
        else:
            train_loader = self._loader(train_set, train_sampler, batch_size)
            val_loader = self._loader(val_set, val_sampler, batch_size) if val_sampler else None

            def train_batches() -> Iterable[Batch]:
                return train_loader

            def val_batches() -> Iterable[Batch]:
                return val_loader or ()

        # --- optimiser (one param group per role, in the order roles start training)
        start_epoch = int(resumed_extra.get("epoch", 0))
        if resume:  # the groups the saved optimizer state belongs to
            order = [g["role"] for g in resumed_extra["optimizer"]["param_groups"]]
        else:
            order = self._trainable_order(0)
        if not order:
            raise ValueError("nothing to train: every module is frozen or an EMA target")
        optimizer = torch.optim.AdamW(
            [{"params": list(world[r].parameters()), "role": r} for r in order],
            lr=self.optim.lr,
            betas=tuple(self.optim.betas),
            weight_decay=self.optim.weight_decay,
        )
        global_step = 0
        best = math.inf
        if resume:
            optimizer.load_state_dict(resumed_extra["optimizer"])
            global_step = int(resumed_extra["global_step"])
            best = float(resumed_extra.get("best", math.inf))
            if hasattr(self.loss, "load_state_dict") and "loss" in resumed_extra:
                self.loss.load_state_dict(resumed_extra["loss"])
            set_rng_state(resumed_extra["rng"])
            if main:  # lines logged after the checkpoint belong to work that is redone now
                run.drop_metrics_after(global_step)

        # --- epoch loop
        stop_epoch = (
            self.epochs if max_epochs is None else min(self.epochs, start_epoch + max_epochs)
        )
        progress = (sys.stderr.isatty() if self.progress is None else self.progress) and main
        autocast = self._autocast(device)
        wrote_operative = resume
        epoch_metrics: dict[str, float] = {}
        step_fn: Callable[[Batch], tuple[torch.Tensor, Batch]] = lambda b: self.loss(world, b)  # noqa: E731
        frozen_now: set[str] | None = None
        monitor = CollapseMonitor()
        monitor.reference = resumed_extra.get("collapse_reference")
        params: list[torch.Tensor] = []
        for epoch in range(start_epoch, stop_epoch):
            frozen = self._frozen(epoch)
            if frozen != frozen_now:  # freeze changes: optimiser groups, DDP wrapper
                frozen_now = frozen
                world.set_frozen(frozen)
                for role in self._trainable_order(epoch):
                    if role not in [g["role"] for g in optimizer.param_groups]:
                        optimizer.add_param_group(
                            {"params": list(world[role].parameters()), "role": role}
                        )
                params = [
                    p for r in world.roles() if r not in frozen for p in world[r].parameters()
                ]
                if dist_info.enabled:
                    ddp = DistributedDataParallel(
                        _LossModule(world, self.loss),
                        device_ids=[device.index] if device.type == "cuda" else None,
                    )
                    step_fn = ddp
            train_sampler.set_epoch(epoch)
            world.train()
            loss_sum = torch.zeros((), device=device)
            seen = 0
            tic = time.perf_counter()
            window_tic, window_samples = tic, 0
            bar = tqdm(
                train_batches(),
                total=steps_per_epoch,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                disable=not progress,
                leave=False,
            )
            for batch in bar:
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                lr = self.optim.lr * self.optim.lr_factor(global_step, total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with autocast():
                    loss, metrics = step_fn(batch)
                value = D.all_reduce_sum(loss.detach().float(), dist_info) / dist_info.world_size
                if not torch.isfinite(value):
                    raise NonFiniteLossError(
                        f"loss is {value.item()} at epoch {epoch + 1}, step {global_step + 1} "
                        f"(workflow {self.workflow!r}); stopping. The last good checkpoint "
                        f"is {run.last}. Lower OptimConfig.lr or check the data."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.optim.grad_clip:
                    grad_norm = torch.nn.utils.clip_grad_norm_(params, self.optim.grad_clip)
                else:
                    grad_norm = torch.nn.utils.get_total_norm(
                        [p.grad for p in params if p.grad is not None]
                    )
                if not torch.isfinite(grad_norm):  # before the update: weights stay finite
                    raise NonFiniteLossError(
                        f"gradient norm is {grad_norm.item()} at epoch {epoch + 1}, step "
                        f"{global_step + 1} (workflow {self.workflow!r}); stopping before the "
                        f"update. The last good checkpoint is {run.last}. Lower OptimConfig.lr "
                        "or check the loss and the data."
                    )
                optimizer.step()
                for target, source in self.ema.items():
                    self.targets[target].update(world[source], global_step)
                global_step += 1
                n = len(batch["index"]) * dist_info.world_size
                seen += n
                window_samples += n
                loss_sum += value * n
                if monitor.reference is None and "collapse/std_mean" in metrics:
                    monitor.observe_start(float(metrics["collapse/std_mean"]))
                if main and not wrote_operative:
                    run.write_text("operative_config.gin", gin.operative_config_str())
                    wrote_operative = True
                if global_step % self.log_every == 0:
                    now = time.perf_counter()
                    sps = window_samples / max(now - window_tic, 1e-9)
                    window_tic, window_samples = now, 0
                    record = {f"train/{k}": float(v) for k, v in metrics.items()}
                    record.update(
                        {
                            "train/loss": float(value),
                            "train/lr": lr,
                            "charts/samples_per_s": sps,
                            "epoch": epoch + 1,
                        }
                    )
                    if grad_norm is not None:
                        record["train/grad_norm"] = float(grad_norm)
                    bar.set_postfix(loss=f"{float(value):.4f}", sps=f"{sps:.0f}")
                    if main:
                        run.log(global_step, record)
            train_time = time.perf_counter() - tic

            epoch_metrics = {
                "epoch": epoch + 1,
                "train/epoch_loss": float(loss_sum) / max(1, seen),
                "perf/train_samples_per_s": seen / max(train_time, 1e-9),
            }
            epoch_metrics.update(self._validate(world, val_batches(), autocast))
            if "val/collapse/std_mean" in epoch_metrics:
                message = monitor.check(epoch_metrics)
                epoch_metrics["collapse/warning"] = float(message is not None)
            score = epoch_metrics.get("val/loss", epoch_metrics["train/epoch_loss"])
            is_best = score < best
            best = min(best, score)
            if main:
                run.log(global_step, epoch_metrics)
                extra = {
                    "workflow": self.workflow,
                    "epoch": epoch + 1,
                    "global_step": global_step,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": {
                        "name": "warmup_cosine",
                        "step": global_step,
                        "total": total_steps,
                    },
                    "ema": {t: e.state_dict() for t, e in self.targets.items()},
                    "rng": rng_state(),
                    "data": {"sampler_seed": self.seed, "next_epoch": epoch + 1},
                    "loss": self.loss.state_dict() if hasattr(self.loss, "state_dict") else {},
                    "best": best,
                    "score": score,
                    "collapse_reference": monitor.reference,
                }
                self._save(run, is_best, extra)
                run.update(epochs_done=epoch + 1)
            D.barrier(dist_info)
        if main:
            run.update(status="finished" if stop_epoch == self.epochs else "running")
        return epoch_metrics

    # ------------------------------------------------------------------ pieces
    def _run_info(
        self,
        world: World,
        init_run: Path | None,
        context: int,
        horizon: int,
        latent_dim: int,
        use_cache: bool,
    ) -> dict[str, Any]:
        """run.json as wm-eval reads it."""
        source = str(Path(init_run).resolve()) if init_run else None
        trained = {
            r for r in world.roles() if any(r not in self._frozen(e) for e in range(self.epochs))
        }
        return {
            "workflow": self.workflow,
            "init_from": source,
            "modules": {
                role: {
                    "trained": role in trained or role in self.targets,
                    "source": source if role in self.load else "built",
                }
                for role in world.roles()
            },
            "data": {
                "paths": [os.path.abspath(p) for p in self.data.path_list()],
                "context": context,
                "horizon": horizon,
                "val_fraction": self.data.val_fraction,
                "split_seed": self.data.split_seed,
            },
            "reward_source": getattr(self.loss, "reward_source", None),
            "latent_dim": latent_dim,
            "cached_latents": use_cache,
        }

    def _save(self, run: RunDir, is_best: bool, extra: Mapping[str, Any]) -> None:
        """last.pt every epoch, best.pt on a new best; every role, so each is self-contained."""
        modules = {role: self.world[role] for role in self.world.roles()}
        save_checkpoint(run.last, modules, extra)
        if is_best:
            save_checkpoint(run.best, modules, extra)

    def _check_resumed(self, path: Path, resumed: Mapping[str, nn.Module]) -> None:
        """The checkpoint being resumed must hold the roles and models the config names."""
        missing = [role for role in self.roles() if role not in resumed]
        if missing:
            raise ValueError(
                f"--resume: {path} holds roles {', '.join(sorted(resumed))} but the config "
                f"needs {', '.join(missing)} too; resume with the run's own config.gin or start "
                "a new --run-dir"
            )
        for role, name in self.modules.items():
            saved = wm_models.module_spec(resumed[role])["name"]
            if saved != name:
                raise ValueError(
                    f"--resume: Trainer.modules[{role!r}] is {name!r} but {path} holds a "
                    f"{ROLE_KINDS[role]} {saved!r}; resume with the run's own config.gin or "
                    "start a new --run-dir"
                )

    def _frozen(self, epoch: int) -> set[str]:
        return self.freeze.frozen(epoch) | set(self.ema)

    def _trainable_order(self, upto_epoch: int) -> list[str]:
        """Roles that have trained by ``upto_epoch``, in the order they started."""
        order: list[str] = []
        for epoch in range(min(upto_epoch, self.epochs - 1) + 1):
            for role in self.roles():
                if role not in self._frozen(epoch) and role not in order:
                    order.append(role)
        return order

    def _load_modules(self, checkpoint: Path | None) -> dict[str, nn.Module]:
        source = wm_models.load_modules(checkpoint)
        out = {}
        for role, source_role in self.load.items():
            if source_role not in source:
                raise unknown(
                    f"role in checkpoint {checkpoint} (Trainer.load)", source_role, source
                )
            out[role] = source[source_role]
        return out

    def _latent_dim(self, reference: Mapping[str, nn.Module]) -> int:
        for role in ("encoder", "predictor", "decoder", "reward_head"):
            if role in reference:
                dim = spec_kwargs(reference[role]).get("latent_dim")
                if dim:
                    return int(dim)
        return self.latent_dim

    def _dataset(self, split: str, context: int, horizon: int) -> Any:
        return wm_data.WindowDataset(
            self.data.paths if isinstance(self.data.paths, str) else list(self.data.paths),
            context=context,
            horizon=horizon,
            split=split,
            val_fraction=self.data.val_fraction,
            split_seed=self.data.split_seed,
            in_memory=self.data.in_memory,
        )

    def _no_windows(self, dataset: Any, context: int, horizon: int) -> str:
        """Why a store gives no training windows: empty, or every episode shorter than one."""
        try:
            lengths = [int(x) for x in dataset.reader.episodes[dataset.episode_ids]["length"]]
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            lengths = []
        found = (
            f"its train split has {len(lengths)} episodes, the longest with "
            f"{max(lengths) + 1} frames"
            if lengths
            else "its train split has no episodes"
        )
        return (
            f"DataConfig.paths {', '.join(self.data.path_list())}: no training window of "
            f"{context + horizon} frames (DataConfig.context={context} + horizon={horizon}); "
            f"{found}. Collect longer or more episodes, or lower DataConfig.context"
        )

    def _rank_batch_size(self) -> int:
        """DataConfig.batch_size is global: each of the N ranks takes 1/N of it."""
        return max(1, self.data.batch_size // self.dist.world_size)

    def _steps_per_epoch(self, size: int) -> int:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        per_rank = math.ceil(size / world_size)
        return max(1, math.ceil(per_rank / max(1, self.data.batch_size // world_size)))

    def _loader(self, dataset: Any, sampler: DistributedSampler, batch_size: int) -> Any:
        return wm_data.make_loader(
            dataset,
            batch_size,
            shuffle=False,
            seed=self.seed,
            num_workers=self.data.num_workers,
            sampler=sampler,
        )

    def _autocast(self, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
        precision = self.precision
        if precision == "auto":
            precision = "bf16" if device.type == "cuda" else "fp32"
        if precision == "bf16":
            return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext

    def _use_cache(self, fixed: set[str]) -> bool:
        feeds = getattr(self.loss, "feeds", None)
        possible = (
            feeds is not None
            and hasattr(self.loss, "features")
            and all(role in self.world for role in feeds)
            and set(feeds) <= fixed
        )
        if self.cache_latents is True and not possible:
            raise ValueError(
                "Trainer.cache_latents=True needs a loss with `features` whose `feeds` roles "
                f"are frozen for the whole run (feeds={feeds}, always frozen={sorted(fixed)})"
            )
        return bool(self.cache_latents) and possible

    def _build_cache(self, world: World, dataset: Any) -> LatentCache:
        world.eval()
        loader = wm_data.make_loader(
            dataset, self.data.batch_size, shuffle=False, num_workers=self.data.num_workers
        )
        return LatentCache.build(
            lambda batch: self.loss.features(world, batch),  # type: ignore[attr-defined]
            loader,
            len(dataset),
            device=self.device_,
            autocast=self._autocast(self.device_),
            max_bytes=self.cache_max_gb * 2**30,
        )

    @torch.no_grad()
    def _validate(
        self,
        world: World,
        batches: Iterable[Batch],
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> dict[str, float]:
        """Mean validation loss and metrics, with the do-nothing baseline of the same loss."""
        world.eval()
        sums: dict[str, torch.Tensor] = {}
        count = 0
        baseline = getattr(self.loss, "baseline", None)
        for batch in batches:
            batch = {k: v.to(self.device_, non_blocking=True) for k, v in batch.items()}
            with autocast():
                loss, metrics = self.loss(world, batch)
                values = {**metrics, "loss": loss.detach()}
                if baseline is not None:
                    values["baseline_loss"] = baseline(world, batch)
            n = len(batch["index"])
            count += n
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float() * n
        if not self.dist.enabled and count == 0:
            return {}
        keys = sorted(sums)
        stacked = torch.stack(
            [sums[k] for k in keys] + [torch.tensor(float(count), device=self.device_)]
        )
        stacked = D.all_reduce_sum(stacked, self.dist)
        total = float(stacked[-1])
        if total == 0:
            return {}
        return {f"val/{k}": float(v) / total for k, v in zip(keys, stacked[:-1], strict=True)}


def check_encoder_fits(spec: Mapping[str, Any], frame_shape: tuple[int, ...], context: int) -> None:
    """A loaded encoder must match the data it will read; name the disagreeing field."""
    if "frame_shape" in spec and tuple(spec["frame_shape"]) != tuple(frame_shape):
        raise ValueError(
            f"loaded encoder expects frame_shape={tuple(spec['frame_shape'])} but the store has "
            f"{tuple(frame_shape)} (DataConfig.paths)"
        )
    if "context" in spec and int(spec["context"]) != context:
        raise ValueError(
            f"loaded encoder expects context={spec['context']} but DataConfig.context={context}"
        )


def check_same_game(source_run: Path, env_id: str | None) -> None:
    """Modules loaded from a run trained on one game must not be trained on another's data."""
    try:
        source = json.loads((Path(source_run) / "run.json").read_text())
    except (OSError, ValueError):
        return  # a bare checkpoint file, or a run from before env_id was recorded
    trained_on = (source.get("data") or {}).get("env_id")
    if trained_on and env_id and trained_on != env_id:
        raise ValueError(
            f"Trainer.init_from {source_run} was trained on {trained_on} but DataConfig.paths "
            f"holds {env_id}; point DataConfig.paths at a {trained_on} store"
        )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
