"""Everything ``Trainer.fit`` builds before its first step, in the order it must happen.

Modules loaded from checkpoints decide the context and latent size, so they come first; then the
data, the world (built, loaded, EMA targets), the run directory, the batches (from a latent cache
when the front end is frozen for the whole run), the training-split statistics of inputs a trained
module standardises and whatever the loss measures on the training split (``loss.prepare``,
e.g. the background frame of a foreground-weighted pixel loss; a new run only), the optimiser,
and last the saved training state of a resumed run (its RNG state must be the last thing set
before the loop starts).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data.distributed import DistributedSampler

import wm_data
import wm_models
from wm_core import RunFormatError, RunManifest, read_manifest, resolve_init_from, unknown_name
from wm_train.batches import autocast_for, make_batches, wants_cache
from wm_train.budget import (
    prepare_loss,
    samples_per_epoch_of,
    steps_per_epoch_of,
    training_record,
)
from wm_train.distributed import DistInfo
from wm_train.ema import EmaTarget, decay_schedule
from wm_train.freeze import always_frozen
from wm_train.input_stats import set_input_statistics
from wm_train.lazy import materialise_lazy
from wm_train.run_dir import RunDir, module_record
from wm_train.train_state import TrainState
from wm_train.world import ROLE_KINDS, World, build_module, spec_kwargs

if TYPE_CHECKING:
    from wm_train.trainer import Trainer

Batch = dict[str, torch.Tensor]
SIZE_KEYS = ("latent_dim", "context", "frame_shape", "num_actions")


@dataclass
class DataSpec:
    """The windows a run trains on, and the shapes they fix."""

    train: Any
    val: Any
    context: int
    horizon: int
    frame_shape: tuple[int, ...]
    num_actions: int
    env_id: str | None
    latent_dim: int


@dataclass
class Fit:
    """What one ``fit`` call trains with; the loop and every callback read it."""

    trainer: Trainer
    device: torch.device
    dist: DistInfo
    run: RunDir
    world: World
    targets: dict[str, EmaTarget]
    optimizer: torch.optim.Optimizer
    train_sampler: DistributedSampler
    train_batches: Callable[[], Iterable[Batch]]
    val_batches: Callable[[], Iterable[Batch]]
    steps_per_epoch: int  # optimiser steps: batches x Trainer.updates_per_batch
    total_steps: int
    samples_per_epoch: int  # training windows drawn per epoch, over all ranks
    start_epoch: int
    stop_epoch: int
    resumed: bool
    autocast: Callable[[], contextlib.AbstractContextManager]
    step_fn: Callable[[Batch], Any] | None = None
    params: list[torch.Tensor] = field(default_factory=list)
    frozen: set[str] | None = None
    should_stop: bool = False  # a callback may end the run after the current epoch


def setup_fit(
    trainer: Trainer,
    device: torch.device,
    dist: DistInfo,
    *,
    resume: bool,
    config_text: str | None,
    max_epochs: int | None,
) -> tuple[Fit, TrainState]:
    """Build the world, data, run directory and optimiser; restore a resumed run's state."""
    seed_everything(trainer.seed)
    init_run, init_ckpt = (None, None)
    if trainer.init_from:
        init_run, init_ckpt = resolve_init_from(trainer.init_from, trainer.init_checkpoint)
    run = RunDir(trainer.run_dir, tensorboard=dist.is_main)
    trainer.run = run
    resume, restart, resumed, state = open_resume(trainer, run, resume)
    loaded = load_init_modules(trainer, init_ckpt) if trainer.load else {}
    data = prepare_data(trainer, {**loaded, **resumed}, init_run)
    steps_per_epoch = steps_per_epoch_of(trainer, len(data.train))
    total_steps = trainer.epochs * steps_per_epoch
    samples_per_epoch = samples_per_epoch_of(len(data.train))
    world, targets = build_world(trainer, data, resumed, loaded, total_steps, device)
    use_cache = wants_cache(trainer, world, always_frozen(trainer.freeze, trainer.epochs))
    if dist.is_main:
        manifest = make_manifest(trainer, world, targets, init_run, data, use_cache)
        manifest.extra["training"] = training_record(
            trainer, state, steps_per_epoch, samples_per_epoch
        )
        run.create(manifest, config_text, resume=resume, restart=restart)
    batches = make_batches(trainer, world, data, dist, device, run, use_cache)
    autocast = autocast_for(trainer.precision, device)
    if not resume:  # a resumed module (and loss) has its statistics in the checkpoint
        set_input_statistics(trainer, world, batches.train_split, device, autocast)
        prepare_loss(trainer.loss, data.train)
    optimizer = make_optimizer(trainer, world, state.param_group_roles() if resume else None)
    if resume:
        state.restore(optimizer=optimizer, targets=targets, loss=trainer.loss)
        if dist.is_main:  # lines logged after the checkpoint belong to work that is redone now
            run.drop_metrics_after(state.global_step)
    state.samples_seen = state.epoch * samples_per_epoch  # checkpoints fall on epoch ends
    start = state.epoch
    stop = trainer.epochs if max_epochs is None else min(trainer.epochs, start + max_epochs)
    fit = Fit(
        trainer=trainer,
        device=device,
        dist=dist,
        run=run,
        world=world,
        targets=targets,
        optimizer=optimizer,
        train_sampler=batches.sampler,
        train_batches=batches.train,
        val_batches=batches.val,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        samples_per_epoch=samples_per_epoch,
        start_epoch=start,
        stop_epoch=stop,
        resumed=resume,
        autocast=autocast,
    )
    return fit, state


# -- resume and loaded modules ---------------------------------------------------------------


def open_resume(
    trainer: Trainer, run: RunDir, resume: bool
) -> tuple[bool, bool, dict[str, nn.Module], TrainState]:
    """(resume, restart, resumed modules, saved state); a run killed before its first
    checkpoint has nothing to resume and restarts in place."""
    state = TrainState(workflow=trainer.workflow)
    if resume and not run.last.exists():
        if not run.started_without_checkpoint():
            raise FileNotFoundError(f"--resume: no checkpoint at {run.last}")
        return False, True, {}, state
    if not resume:
        return False, False, {}, state
    resumed = wm_models.load_modules(run.last)
    check_resumed(trainer, run.last, resumed)
    return True, False, resumed, TrainState.from_checkpoint(run.last)


def check_resumed(trainer: Trainer, path: Path, resumed: Mapping[str, nn.Module]) -> None:
    """The checkpoint being resumed must hold the roles and models the config names."""
    missing = [role for role in trainer.roles() if role not in resumed]
    if missing:
        raise ValueError(
            f"--resume: {path} holds roles {', '.join(sorted(resumed))} but the config "
            f"needs {', '.join(missing)} too; resume with the run's own config.gin or start "
            "a new --run-dir"
        )
    for role, name in trainer.modules.items():
        saved = wm_models.module_spec(resumed[role])["name"]
        if saved != name:
            raise ValueError(
                f"--resume: Trainer.modules[{role!r}] is {name!r} but {path} holds a "
                f"{ROLE_KINDS[role]} {saved!r}; resume with the run's own config.gin or "
                "start a new --run-dir"
            )


def load_init_modules(trainer: Trainer, checkpoint: Path | None) -> dict[str, nn.Module]:
    """The roles ``Trainer.load`` takes from ``init_from`` (a mapping renames them)."""
    source = wm_models.load_modules(checkpoint)
    out = {}
    for role, source_role in trainer.load.items():
        if source_role not in source:
            raise unknown_name(
                f"role in checkpoint {checkpoint} (Trainer.load)", source_role, source
            )
        out[role] = source[source_role]
    return out


# -- data ------------------------------------------------------------------------------------


def prepare_data(
    trainer: Trainer, reference: Mapping[str, nn.Module], init_run: Path | None
) -> DataSpec:
    """Train and validation windows; loaded modules must fit them (game, frames, context)."""
    enc_spec = spec_kwargs(reference["encoder"]) if "encoder" in reference else {}
    context = trainer.data.context or enc_spec.get("context") or 4
    horizon = trainer.data.horizon or trainer.loss.horizon
    train_set = dataset(trainer, "train", context, horizon)
    val_set = dataset(trainer, "val", context, horizon)
    if len(train_set) == 0:
        raise ValueError(no_windows_message(trainer, train_set, context, horizon))
    frame_shape = tuple(int(s) for s in train_set.frame_shape)
    env_id = train_set.metadata.get("env_id")
    if init_run is not None:
        check_same_game(init_run, env_id)
    if "encoder" in reference:
        check_encoder_fits(enc_spec, frame_shape, context)
    return DataSpec(
        train=train_set,
        val=val_set,
        context=context,
        horizon=horizon,
        frame_shape=frame_shape,
        num_actions=int(train_set.num_actions),
        env_id=env_id,
        latent_dim=latent_dim_of(reference, trainer.latent_dim),
    )


def dataset(trainer: Trainer, split: str, context: int, horizon: int) -> Any:
    data = trainer.data
    return wm_data.WindowDataset(
        data.paths if isinstance(data.paths, str) else list(data.paths),
        context=context,
        horizon=horizon,
        split=split,
        val_fraction=data.val_fraction,
        test_fraction=data.test_fraction,
        split_seed=data.split_seed,
        in_memory=data.in_memory,
    )


def no_windows_message(trainer: Trainer, train_set: Any, context: int, horizon: int) -> str:
    """Why a store gives no training windows: empty, or every episode shorter than one."""
    try:
        lengths = [int(x) for x in train_set.reader.episodes[train_set.episode_ids]["length"]]
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        lengths = []
    found = (
        f"its train split has {len(lengths)} episodes, the longest with {max(lengths) + 1} frames"
        if lengths
        else "its train split has no episodes"
    )
    return (
        f"DataConfig.paths {', '.join(trainer.data.path_list())}: no training window of "
        f"{context + horizon} frames (DataConfig.context={context} + horizon={horizon}); "
        f"{found}. Collect longer or more episodes, or lower DataConfig.context"
    )


def latent_dim_of(reference: Mapping[str, nn.Module], default: int) -> int:
    """A loaded module's own latent size wins over ``Trainer.latent_dim``."""
    for role in ("encoder", "predictor", "decoder", "reward_head"):
        if role in reference:
            dim = spec_kwargs(reference[role]).get("latent_dim")
            if dim:
                return int(dim)
    return default


# -- world -----------------------------------------------------------------------------------


def build_world(
    trainer: Trainer,
    data: DataSpec,
    resumed: Mapping[str, nn.Module],
    loaded: Mapping[str, nn.Module],
    total_steps: int,
    device: torch.device,
) -> tuple[World, dict[str, EmaTarget]]:
    """Built roles (or their resumed weights), loaded roles, then EMA targets of them."""
    parts: dict[str, nn.Module] = {}
    for role, name in trainer.modules.items():
        if role in resumed:
            parts[role] = resumed[role]
            continue
        parts[role] = build_module(
            role,
            name,
            frame_shape=data.frame_shape,
            context=data.context,
            num_actions=data.num_actions,
            latent_dim=data.latent_dim,
        )
    for role in trainer.load:
        parts[role] = resumed[role] if role in resumed else loaded[role]
    materialise_lazy(  # before the EMA copy, channels-last and the optimiser touch a weight
        parts,
        trainer.modules,
        context=data.context,
        frame_shape=data.frame_shape,
        latent_dim=data.latent_dim,
    )
    targets: dict[str, EmaTarget] = {}
    for target, source in trainer.ema.items():
        ema = EmaTarget(parts[source], decay_schedule(trainer.ema_decay, total_steps))
        if target in resumed:
            ema.module.load_state_dict(resumed[target].state_dict())
        targets[target] = ema
        parts[target] = ema.module
    world = World(parts).to(device)
    if trainer.channels_last:  # faster convolutions with oneDNN on CPU and cuDNN on GPU
        world.to(memory_format=torch.channels_last)
    return world, targets


def make_manifest(
    trainer: Trainer,
    world: World,
    targets: Mapping[str, EmaTarget],
    init_run: Path | None,
    data: DataSpec,
    use_cache: bool,
) -> RunManifest:
    """run.json as wm-eval reads it: every role's registry name, kind and sizes."""
    source = str(Path(init_run).resolve()) if init_run else None
    epochs = range(trainer.epochs)
    trained = {r for r in world.roles() if any(r not in trainer.frozen(e) for e in epochs)}
    modules = {
        role: module_record(
            role,
            world[role],
            trained=role in trained or role in targets,
            source=source if role in trainer.load and source else "built",
            size_keys=SIZE_KEYS,
        )
        for role in world.roles()
    }
    return RunManifest(
        workflow=trainer.workflow,
        init_from=source,
        modules=modules,
        data={
            "paths": [os.path.abspath(p) for p in trainer.data.path_list()],
            "context": data.context,
            "horizon": data.horizon,
            "val_fraction": trainer.data.val_fraction,
            "test_fraction": trainer.data.test_fraction,
            "split_seed": trainer.data.split_seed,
            "env_id": data.env_id,
        },
        loss={"name": trainer.loss_name, "reward_source": trainer.loss.reward_source},
        latent_dim=data.latent_dim,
        cached_latents=use_cache,
    )


# -- optimiser and numerics ------------------------------------------------------------------


def make_optimizer(
    trainer: Trainer, world: World, saved_roles: list[str] | None
) -> torch.optim.Optimizer:
    """AdamW with one param group per role, in the order roles start training (a resumed run
    takes the saved order, which its optimiser state belongs to)."""
    order = saved_roles if saved_roles is not None else trainer.trainable_order(0)
    if not order:
        raise ValueError("nothing to train: every module is frozen or an EMA target")
    return torch.optim.AdamW(
        [{"params": list(world[r].parameters()), "role": r} for r in order],
        lr=trainer.optim.lr,
        betas=tuple(trainer.optim.betas),
        weight_decay=trainer.optim.weight_decay,
    )


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
        trained_on = read_manifest(source_run).data.get("env_id")
    except RunFormatError:
        return  # a bare checkpoint file, or a run from before env_id was recorded
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
