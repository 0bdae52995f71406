"""Windows of each split of a run's store, subsampled and cached, with their episode ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from wm_data import StoreError, WindowDataset, open_store
from wm_data.dataset import SPLITS, split_episodes
from wm_eval.runs import RunInfo

DEFAULT_FRACTION = 0.15


def subsample(n: int, max_samples: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_samples`` of ``n`` items, fixed by ``seed``."""
    if n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def per_episode(episodes: np.ndarray, per_episode: int) -> np.ndarray:
    """Sorted positions of at most ``per_episode`` windows of every episode, evenly spread.

    ``episodes`` is the episode of each window, windows of one episode in time order (as
    ``DataSource.batch`` returns them). Every episode keeps its place in the sample: the
    episode bootstrap resamples episodes, so their number, not the windows per episode, bounds
    an interval's width once the windows of an episode are this many (see
    ``scripts/interval_widths.py``).
    """
    if per_episode < 1:
        raise ValueError(f"per_episode must be >= 1, got {per_episode}")
    episodes = np.asarray(episodes)
    order = np.argsort(episodes, kind="stable")
    _, starts, counts = np.unique(episodes[order], return_index=True, return_counts=True)
    picks = [
        order[s : s + c]
        if c <= per_episode
        else order[s + np.round(np.linspace(0, c - 1, per_episode)).astype(np.int64)]
        for s, c in zip(starts, counts, strict=True)
    ]
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)


def plain(value: Any) -> Any:
    """Metadata values as JSON-able plain types (numpy scalars and arrays included)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass
class DataSource:
    """The store and split settings a run was trained with (its ``run.json`` ``data`` entry).

    ``predates_test_split``: the run's ``run.json`` records no ``test_fraction`` (written before
    the held-out test split existed); the default fraction is assumed, but that run's training
    may have seen what is now the test split.
    """

    paths: tuple[str, ...]
    context: int
    val_fraction: float = DEFAULT_FRACTION
    split_seed: int = 0
    test_fraction: float = DEFAULT_FRACTION
    predates_test_split: bool = False
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _episodes: np.ndarray | None = field(default=None, repr=False)
    _datasets: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)
    _batches: dict[tuple[str, int, int, int], dict[str, torch.Tensor]] = field(
        default_factory=dict, repr=False
    )

    @property
    def key(self) -> tuple:
        return (self.paths, self.context, self.val_fraction, self.split_seed, self.test_fraction)

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
            val_fraction=float(data.get("val_fraction", DEFAULT_FRACTION)),
            split_seed=int(data.get("split_seed", 0)),
            test_fraction=float(data.get("test_fraction", DEFAULT_FRACTION)),
            predates_test_split="test_fraction" not in data,
        )

    def _read_store(self) -> None:
        reader = open_store(list(self.paths))
        try:
            self._metadata = dict(reader.metadata)
            self._episodes = reader.episodes
        finally:
            reader.close()

    @property
    def metadata(self) -> dict[str, Any]:
        """The store's metadata (env_id, obs_shape, has_ram, ...), read once."""
        if self._metadata is None:
            self._read_store()
        return self._metadata  # type: ignore[return-value]

    @property
    def episodes(self) -> np.ndarray:
        """The store's episode table (one row per episode, shards concatenated), read once."""
        if self._episodes is None:
            self._read_store()
        return self._episodes  # type: ignore[return-value]

    @property
    def has_ram(self) -> bool:
        return bool(self.metadata.get("has_ram", False))

    def content_digest(self) -> str:
        """sha256 of the episodes table and the metadata: the same for a store and its copy."""
        digest = hashlib.sha256(self.episodes.tobytes())
        meta = json.dumps(plain(dict(self.metadata)), sort_keys=True, default=str)
        digest.update(meta.encode())
        return f"sha256:{digest.hexdigest()}"

    @property
    def shared_key(self) -> tuple:
        """What makes two runs' stores one: the same content (a store copied elsewhere counts
        as the same store) and the same split settings; the paths when the store cannot be
        read (the error then surfaces where the store is first used)."""
        try:
            content: Any = self.content_digest()
        except (OSError, ValueError, StoreError):
            content = self.paths
        return (content, *self.key[1:])

    def split_episodes(self) -> dict[str, np.ndarray]:
        """Store episode positions of each split, as ``WindowDataset`` assigns them."""
        return split_episodes(self.episodes, self.val_fraction, self.split_seed, self.test_fraction)

    def split_summary(self) -> dict[str, Any]:
        """Fractions, seed, episodes per split and the test episodes (for provenance)."""
        parts = self.split_episodes()
        return {
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "split_seed": self.split_seed,
            "predates_test_split": self.predates_test_split,
            "episodes": {name: len(parts[name]) for name in SPLITS},
            "test_episode_ids": [int(i) for i in parts["test"]],
        }

    def dataset(self, split: str, horizon: int) -> WindowDataset:
        key = (split, horizon)
        if key not in self._datasets:
            self._datasets[key] = WindowDataset(
                list(self.paths),
                context=self.context,
                horizon=horizon,
                split=split,
                val_fraction=self.val_fraction,
                test_fraction=self.test_fraction,
                split_seed=self.split_seed,
                include_ram=self.has_ram,
            )
        return self._datasets[key]

    def batch(
        self, split: str, horizon: int, max_samples: int, seed: int, chunk: int = 512
    ) -> dict[str, torch.Tensor]:
        """A subsample of windows as one batch dict (uint8 frames stay uint8), cached.

        Besides the dataset's fields it holds ``episode`` (int64): the store episode of each
        window, the unit every interval resamples, and ``offset`` (int64): the frame offset of
        the window in its episode (with ``episode``, what identifies a state).
        """
        key = (split, horizon, max_samples, seed)
        if key not in self._batches:
            ds = self.dataset(split, horizon)
            if len(ds) == 0:
                raise ValueError(
                    f"data: split {split!r} of {list(self.paths)} has no windows of "
                    f"context={self.context} horizon={horizon}"
                )
            idx = subsample(len(ds), max_samples, seed)
            parts = [ds.__getitems__(idx[s : s + chunk]) for s in range(0, len(idx), chunk)]
            batch = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
            episode, offset = ds.window_episode(idx)
            batch["episode"] = torch.from_numpy(episode.astype(np.int64))
            batch["offset"] = torch.from_numpy(offset.astype(np.int64))
            self._batches[key] = batch
        return self._batches[key]
