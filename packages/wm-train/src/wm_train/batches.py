"""Where training batches come from: a DataLoader over the windows, or a latent cache.

When every role that feeds the loss is frozen for the whole run (a reward head on a loaded
encoder, say), its features are computed once per dataset and served by window index instead of
re-encoding every batch; over the memory budget, ``auto`` falls back to the loader.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch.utils.data.distributed import DistributedSampler

import wm_data
from wm_train.distributed import DistInfo
from wm_train.latent_cache import CacheTooLargeError, LatentCache, index_batches
from wm_train.run_dir import RunDir
from wm_train.world import World

if TYPE_CHECKING:
    from wm_train.setup import DataSpec
    from wm_train.trainer import Trainer

Batch = dict[str, torch.Tensor]
SPLIT_CHUNK = 4096


class Batches(NamedTuple):
    """Where a run's batches come from."""

    sampler: DistributedSampler  # the train order, the same per epoch on every restart
    train: Callable[[], Iterable[Batch]]  # this rank's shard, in the sampler's order
    val: Callable[[], Iterable[Batch]]
    train_split: Callable[[], Iterable[Batch]]  # every training window once, on every rank


def wants_cache(trainer: Trainer, world: World, fixed: set[str]) -> bool:
    """Cache the loss's features when every role feeding them is frozen for the whole run."""
    feeds = trainer.loss.feeds
    fixed = fixed | set(trainer.ema)
    possible = feeds is not None and all(r in world for r in feeds) and set(feeds) <= fixed
    if trainer.cache_latents is True and not possible:
        raise ValueError(
            "Trainer.cache_latents=True needs a loss with `features` whose `feeds` roles "
            f"are frozen for the whole run (feeds={feeds}, always frozen={sorted(fixed)})"
        )
    return bool(trainer.cache_latents) and possible


def make_batches(
    trainer: Trainer,
    world: World,
    data: DataSpec,
    dist: DistInfo,
    device: torch.device,
    run: RunDir,
    use_cache: bool,
) -> Batches:
    """The train sampler and the batch sources: from the latent caches or from loaders."""
    train_sampler = DistributedSampler(
        data.train, dist.world_size, dist.rank, shuffle=True, seed=trainer.seed
    )
    val_sampler = (
        DistributedSampler(data.val, dist.world_size, dist.rank, shuffle=False)
        if len(data.val)
        else None
    )
    batch_size = max(1, trainer.data.batch_size // dist.world_size)
    if trainer.compile:
        for role in world.roles():
            world[role].compile()
    caches = None
    if use_cache:
        caches = build_caches(trainer, world, data, device, run if dist.is_main else None)
    if caches is not None:

        def cached(split: str, sampler: Any) -> Callable[[], Iterable[Batch]]:
            return lambda: (caches[split].batch(i) for i in index_batches(sampler, batch_size))

        train = caches["train"]
        return Batches(
            train_sampler,
            cached("train", train_sampler),
            cached("val", val_sampler),
            lambda: (train.batch(i) for i in torch.arange(len(train)).split(SPLIT_CHUNK)),
        )
    train_loader = loader(trainer, data.train, train_sampler, batch_size)
    val_loader = loader(trainer, data.val, val_sampler, batch_size) if val_sampler else None
    return Batches(
        train_sampler,
        lambda: train_loader,
        lambda: val_loader or (),
        lambda: wm_data.make_loader(
            data.train, batch_size, shuffle=False, num_workers=trainer.data.num_workers
        ),
    )


def build_caches(
    trainer: Trainer, world: World, data: DataSpec, device: torch.device, run: RunDir | None
) -> dict[str, LatentCache] | None:
    """Latent caches of the train and val splits, or None when over budget under ``auto``."""
    try:
        return {
            split: latent_cache(trainer, world, ds, device)
            for split, ds in (("train", data.train), ("val", data.val))
            if len(ds)
        }
    except CacheTooLargeError as exc:
        if trainer.cache_latents is True:
            raise CacheTooLargeError(
                f"{exc} (Trainer.cache_max_gb={trainer.cache_max_gb}); raise it or set "
                "Trainer.cache_latents='auto' to re-encode every batch instead"
            ) from exc
        warnings.warn(f"{exc}: re-encoding every batch instead", stacklevel=2)
        if run is not None:
            run.update(cached_latents=False)
        return None


def latent_cache(trainer: Trainer, world: World, ds: Any, device: torch.device) -> LatentCache:
    world.eval()
    batches = wm_data.make_loader(
        ds, trainer.data.batch_size, shuffle=False, num_workers=trainer.data.num_workers
    )
    return LatentCache.build(
        lambda batch: trainer.loss.features(world, batch),
        batches,
        len(ds),
        device=device,
        autocast=autocast_for(trainer.precision, device),
        max_bytes=trainer.cache_max_gb * 2**30,
    )


def loader(trainer: Trainer, ds: Any, sampler: DistributedSampler, batch_size: int) -> Any:
    return wm_data.make_loader(
        ds,
        batch_size,
        shuffle=False,
        seed=trainer.seed,
        num_workers=trainer.data.num_workers,
        sampler=sampler,
    )


def autocast_for(
    precision: str, device: torch.device
) -> Callable[[], contextlib.AbstractContextManager]:
    """``auto``: bf16 autocast on CUDA, fp32 elsewhere."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext
