"""Range checks on every Trainer, DataConfig and OptimConfig setting, run when the Trainer is
made: a refused run creates no folder, no run.json and no config.gin (so a later ``--resume``
cannot pick up a bad value), and its one-line error names the gin key and the valid range.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wm_core import ConfigError
from wm_train.config import DataConfig, OptimConfig

if TYPE_CHECKING:
    from wm_train.trainer import Trainer

__all__ = [
    "check_data_config",
    "check_flag",
    "check_int",
    "check_optim_config",
    "check_real",
    "check_trainer_settings",
    "refuse",
]


def refuse(key: str, value: Any, why: str) -> ConfigError:
    """``<key> = <value>: <why>``: the binding a user would write, then what is valid."""
    return ConfigError(f"{key} = {value!r}: {why}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(key: str, value: Any, low: int, *, optional: bool = False) -> None:
    """An int ``>= low`` (or None when ``optional``)."""
    if value is None and optional:
        return
    if not _is_int(value) or value < low:
        raise refuse(key, value, f"must be an int >= {low}" + (", or None" if optional else ""))


def check_real(
    key: str,
    value: Any,
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> None:
    """A number in the interval from ``low`` to ``high`` (``*_open``: that end excluded)."""
    if value is None and optional:
        return
    ok = _is_real(value) and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        raise refuse(key, value, f"must be {_span(low, high, low_open, high_open, optional)}")


def _span(low: float, high: float, low_open: bool, high_open: bool, optional: bool) -> str:
    if high == math.inf:
        text = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        text = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return text + (", or None" if optional else "")


def check_flag(key: str, value: Any, *, optional: bool = False) -> None:
    """True or False (or None when ``optional``: decided at run time)."""
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise refuse(key, value, "must be True or False" + (", or None" if optional else ""))


def check_text(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise refuse(key, value, "must be a non-empty string")


def check_trainer_settings(trainer: Trainer) -> None:
    """Every setting of the Trainer itself and of its DataConfig and OptimConfig."""
    check_text("Trainer.workflow", trainer.workflow)
    check_int("Trainer.latent_dim", trainer.latent_dim, 1)
    check_int("Trainer.epochs", trainer.epochs, 1)
    check_int("Trainer.updates_per_batch", trainer.updates_per_batch, 1)
    check_int("Trainer.seed", trainer.seed, 0)
    check_int("Trainer.log_every", trainer.log_every, 1)
    check_int("Trainer.print_every", trainer.print_every, 1, optional=True)
    check_real("Trainer.cache_max_gb", trainer.cache_max_gb, 0.0, low_open=True)
    check_flag("Trainer.channels_last", trainer.channels_last)
    check_flag("Trainer.compile", trainer.compile)
    check_flag("Trainer.curves", trainer.curves)
    check_flag("Trainer.progress", trainer.progress, optional=True)
    check_text("Trainer.device", trainer.device)
    check_text("Trainer.run_dir", trainer.run_dir)
    if trainer.init_checkpoint not in ("best", "last"):
        raise refuse("Trainer.init_checkpoint", trainer.init_checkpoint, "must be 'best' or 'last'")
    check_ema_decay(trainer.ema_decay)
    check_data_config(trainer.data)
    check_optim_config(trainer.optim)
    check_horizon_fits(trainer)


def check_horizon_fits(trainer: Trainer) -> None:
    """A K-step loss needs windows of at least K actions: a ``DataConfig.horizon`` below the
    loss's rollout length is refused now rather than at the first batch."""
    needed = getattr(trainer.loss, "horizon", 1)
    given = trainer.data.horizon
    if given is not None and _is_int(needed) and given < needed:
        raise refuse(
            "DataConfig.horizon",
            given,
            f"loss {trainer.loss_name!r} rolls out {needed} steps (its rollout_steps) and needs "
            f"windows with horizon >= {needed}; raise it or leave it None to follow the loss",
        )


def check_ema_decay(decay: Any) -> None:
    """A decay in [0, 1], or a ramp ``(start, end)`` with both ends in [0, 1]."""
    why = "must be a number in [0, 1], or (start, end) with both in [0, 1]"
    values = list(decay) if isinstance(decay, Sequence) and not isinstance(decay, str) else None
    if values is not None and len(values) != 2:
        raise refuse("Trainer.ema_decay", decay, why)
    for value in values if values is not None else [decay]:
        if not _is_real(value) or not 0.0 <= value <= 1.0:
            raise refuse("Trainer.ema_decay", decay, why)


def check_data_config(data: DataConfig) -> None:
    """Paths, window sizes, split fractions, batch size and loader workers."""
    if not isinstance(data, DataConfig):
        raise refuse("Trainer.data", data, "must be a DataConfig (bind DataConfig.* in gin)")
    paths = data.paths
    listed = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or [])
    if not listed or not all(isinstance(p, (str, os.PathLike)) and str(p) for p in listed):
        raise refuse("DataConfig.paths", paths, "must be a store path or a list of them")
    check_int("DataConfig.context", data.context, 1, optional=True)
    check_int("DataConfig.horizon", data.horizon, 1, optional=True)
    check_real("DataConfig.val_fraction", data.val_fraction, 0.0, 1.0, high_open=True)
    check_real("DataConfig.test_fraction", data.test_fraction, 0.0, 1.0, high_open=True)
    if data.val_fraction + data.test_fraction >= 1.0:
        raise refuse(
            "DataConfig.val_fraction + DataConfig.test_fraction",
            data.val_fraction + data.test_fraction,
            "must be < 1, or no episode is left to train on",
        )
    check_int("DataConfig.split_seed", data.split_seed, 0)
    check_int("DataConfig.batch_size", data.batch_size, 1)
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if data.batch_size < world_size:
        raise refuse(
            "DataConfig.batch_size",
            data.batch_size,
            f"is the global batch and must be >= the {world_size} processes (WORLD_SIZE)",
        )
    check_int("DataConfig.num_workers", data.num_workers, 0)
    check_flag("DataConfig.in_memory", data.in_memory, optional=True)


def check_optim_config(optim: OptimConfig) -> None:
    """Learning rate, weight decay, Adam betas, warmup, the cosine floor and clipping."""
    if not isinstance(optim, OptimConfig):
        raise refuse("Trainer.optim", optim, "must be an OptimConfig (bind OptimConfig.* in gin)")
    check_real("OptimConfig.lr", optim.lr, 0.0, low_open=True)
    if _is_real(optim.lr) and math.isinf(optim.lr):
        raise refuse("OptimConfig.lr", optim.lr, "must be a finite number > 0")
    check_real("OptimConfig.weight_decay", optim.weight_decay, 0.0)
    betas = optim.betas
    if (
        isinstance(betas, str)
        or not isinstance(betas, Sequence)
        or len(betas) != 2
        or not all(_is_real(b) and 0.0 <= b < 1.0 for b in betas)
    ):
        raise refuse("OptimConfig.betas", betas, "must be (beta1, beta2), each in [0, 1)")
    check_int("OptimConfig.warmup_steps", optim.warmup_steps, 0, optional=True)
    check_real("OptimConfig.warmup_fraction", optim.warmup_fraction, 0.0, 1.0)
    check_real("OptimConfig.min_lr_ratio", optim.min_lr_ratio, 0.0, 1.0)
    check_real("OptimConfig.grad_clip", optim.grad_clip, 0.0, low_open=True, optional=True)
