"""Validation (and probe-training) windows from a run's store, subsampled and cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from wm_data import WindowDataset, open_store
from wm_eval.runs import RunInfo


def subsample(n: int, max_samples: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_samples`` of ``n`` items, fixed by ``seed``."""
    if n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


@dataclass
class DataSource:
    """The store and split settings a run was trained with (its ``run.json`` ``data`` entry)."""

    paths: tuple[str, ...]
    context: int
    val_fraction: float = 0.15
    split_seed: int = 0
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _datasets: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)
    _batches: dict[tuple[str, int, int, int], dict[str, torch.Tensor]] = field(
        default_factory=dict, repr=False
    )

    @property
    def key(self) -> tuple:
        return (self.paths, self.context, self.val_fraction, self.split_seed)

    @classmethod
    def from_run(cls, run: RunInfo, override_paths: tuple[str, ...] | None = None) -> DataSource:
        data = run.data
        paths = tuple(override_paths) if override_paths else tuple(run.data_paths())
        if not paths:
            raise ValueError(
                f"run {run.path}: run.json 'data.paths' is empty; "
                "bind EvalConfig.data_paths to name the store"
            )
        if "context" not in data:
            raise ValueError(f"run {run.path}: run.json 'data.context' is missing")
        return cls(
            paths=paths,
            context=int(data["context"]),
            val_fraction=float(data.get("val_fraction", 0.15)),
            split_seed=int(data.get("split_seed", 0)),
        )

    @property
    def metadata(self) -> dict[str, Any]:
        """The store's metadata (env_id, obs_shape, has_ram, ...), read once."""
        if self._metadata is None:
            reader = open_store(list(self.paths))
            try:
                self._metadata = dict(reader.metadata)
            finally:
                close = getattr(reader, "close", None)
                if callable(close):
                    close()
        return self._metadata

    @property
    def has_ram(self) -> bool:
        return bool(self.metadata.get("has_ram", False))

    def dataset(self, split: str, horizon: int) -> WindowDataset:
        key = (split, horizon)
        if key not in self._datasets:
            self._datasets[key] = WindowDataset(
                list(self.paths),
                context=self.context,
                horizon=horizon,
                split=split,
                val_fraction=self.val_fraction,
                split_seed=self.split_seed,
                include_ram=self.has_ram,
            )
        return self._datasets[key]

    def batch(
        self, split: str, horizon: int, max_samples: int, seed: int, chunk: int = 512
    ) -> dict[str, torch.Tensor]:
        """A subsample of windows as one batch dict (uint8 frames stay uint8), cached."""
        key = (split, horizon, max_samples, seed)
        if key not in self._batches:
            ds = self.dataset(split, horizon)
            if len(ds) == 0:
                raise ValueError(
                    f"data: split {split!r} of {list(self.paths)} has no windows of "
                    f"context={self.context} horizon={horizon}"
                )
            idx = subsample(len(ds), max_samples, seed).tolist()
            parts = [ds.__getitems__(idx[s : s + chunk]) for s in range(0, len(idx), chunk)]
            self._batches[key] = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return self._batches[key]
