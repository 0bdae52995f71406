"""Evaluation settings: one dataclass, bindable from gin as ``EvalConfig.<field>``."""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import asdict, dataclass
from typing import Any

from wm_core import ConfigError, did_you_mean

# The lowest valid value of each integer setting.
INT_RANGES: dict[str, int] = {
    "batch_size": 1,
    "seed": 0,
    "max_samples": 1,
    "neighbour_samples": 1,
    "n_neighbors": 1,
    "working_memory_mib": 1,
    "noise_samples": 1,
    "probe_train_samples": 1,
    "ram_top_bytes": 1,
    "rollout_horizon": 1,
    "decoded_per_episode": 1,
    "grid_samples": 0,
    "gif_samples": 0,
    "random_encoder_seed": 0,
}


def _refuse(field: str, value: Any, why: str) -> ConfigError:
    """``EvalConfig.<field> = <value>: <why>``, the binding a user would write and what is valid."""
    return ConfigError(f"EvalConfig.{field} = {value!r}: {why}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass
class EvalConfig:
    """What to evaluate and how much data to use.

    ``probes``: names in the probe registry (``wm_eval.probes.PROBES``, plugins included);
    None runs every registered probe in the registry's default order. An unknown name raises
    ``wm_core.UnknownNameError`` with the closest known names.

    ``split``: the episodes every probe scores: ``'test'`` (held out from training and from
    checkpoint selection), or ``'val'`` to look at what selection saw. Probes fit their
    read-outs (ridge, logistic, linear dynamics) on the training split.

    Subsampling (all deterministic from ``seed``): every probe draws at most
    ``max_samples`` windows of that split; the neighbourhood metrics (trustworthiness,
    continuity) use the first ``neighbour_samples`` of those, TwoNN and the participation
    ratio all of them; state probes fit on at most ``probe_train_samples`` training
    windows; noise robustness encodes ``noise_samples`` windows per noise level; decoded
    rollouts score at most ``decoded_per_episode`` windows evenly spread through every scored
    episode. Each table says how many episodes and windows it scored.

    Cost (``wm-eval -v`` logs each probe's wall time and its parts; ``report.json`` keeps them
    under ``timings``): each state is encoded once per encoder weights and shared by every
    probe; modules run channels-last on CPU; the bootstrap of every cell runs all 1000
    resamples at once (per-episode sums, or window weights for AUROC and average precision).
    A decoded rollout costs about 9 decoder and 4 encoder passes per window and decoder, so it
    alone is thinned, by episode: the bootstrap resamples episodes, so their number bounds an
    interval's width, and windows of one episode add less and less. Measured on the 50k
    Assault store with its 20-epoch JEPA and encoder-decoder (15 test episodes;
    ``scripts/interval_widths.py``, mean over 20 thinnings): 32 windows per episode instead of
    the whole 4000-window subsample (~267 an episode) left the decoded-rollout intervals
    0.99-1.42× as wide (1.22× on average; 64 windows: 1.02-1.24×; 16: 0.91-1.65×), while the
    decoders' next-frame cells, thinned alike, widened up to 3× (heavy-tailed errors), so the
    reconstruction probe keeps every scored window (one decoder pass each). Noise robustness
    (one encoder pass per window, level and encoder) is thinned the same way: on that store
    (16-epoch encoder-decoder, 15 test episodes) its intervals were as wide at 64, 128, 256 and
    512 windows for the trained encoder (width 0.0054 at sigma 0.01 for each), and 1.18x as
    wide at 256 as at 512 for the random-init encoder (1.4x at 128), so 256 it is.

    ``baseline_cache``: a folder where the pooled-pixel read-outs, which depend on the store,
    split and subsample but not on the runs, are kept between evaluations
    (``wm_eval.baseline_cache``); a sweep sets it so that its evaluations of one store fit them
    once. None (the default): every evaluation fits them.
    """

    probes: tuple[str, ...] | None = None
    split: str = "test"
    device: str = "auto"
    batch_size: int = 256
    seed: int = 0
    max_samples: int = 4000
    neighbour_samples: int = 4000
    n_neighbors: int = 10
    working_memory_mib: int = 256
    pixel_space: str = "context"
    noise_sigmas: tuple[float, ...] = (0.01, 0.03, 0.1)
    noise_samples: int = 256
    probe_train_samples: int = 8000
    ram_top_bytes: int = 16
    rollout_horizon: int = 5
    decoded_per_episode: int = 32
    grid_samples: int = 6
    gif_samples: int = 4
    random_encoder_seed: int = 0
    data_paths: tuple[str, ...] | None = None
    baseline_cache: str | None = None

    def __post_init__(self) -> None:
        from wm_eval.probes import check_probes, default_probes  # the registry imports torch

        if self.probes is None:
            self.probes = default_probes()
        elif isinstance(self.probes, str) or not isinstance(self.probes, (tuple, list)):
            raise _refuse("probes", self.probes, "must be a tuple of probe names")
        self.probes = check_probes(tuple(self.probes), field="EvalConfig.probes")
        if self.split not in ("test", "val"):
            raise _refuse(
                "split",
                self.split,
                "must be 'test' (held-out episodes) or 'val'."
                + did_you_mean(str(self.split), ("test", "val")),
            )
        for name, low in INT_RANGES.items():
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise _refuse(name, value, f"must be an int >= {low}")
        if self.pixel_space not in ("context", "last_frame"):
            raise _refuse(
                "pixel_space",
                self.pixel_space,
                "must be 'context' or 'last_frame'."
                + did_you_mean(str(self.pixel_space), ("context", "last_frame")),
            )
        if not isinstance(self.device, str) or not self.device:
            raise _refuse("device", self.device, "must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        sigmas = self.noise_sigmas
        if isinstance(sigmas, str) or not isinstance(sigmas, (tuple, list)):
            raise _refuse("noise_sigmas", sigmas, "must be a tuple of noise levels >= 0")
        if not all(_is_real(s) and math.isfinite(s) and s >= 0 for s in sigmas):
            raise _refuse("noise_sigmas", sigmas, "must be finite and >= 0")
        self.noise_sigmas = tuple(float(s) for s in sigmas)
        if self.baseline_cache is not None and (
            not isinstance(self.baseline_cache, str) or not self.baseline_cache.strip()
        ):
            raise _refuse("baseline_cache", self.baseline_cache, "must be a folder path or None")
        if self.data_paths is not None:
            paths = [self.data_paths] if isinstance(self.data_paths, str) else self.data_paths
            if not paths or not all(isinstance(p, (str, os.PathLike)) and str(p) for p in paths):
                raise _refuse("data_paths", paths, "must be None or a tuple of store paths")
            self.data_paths = tuple(str(p) for p in paths)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
