"""Windows of ``T + K`` consecutive frames of one episode, as uint8 torch batches.

Every window lies inside one episode. The train / validation / test split is by episode,
deterministic from ``split_seed`` and stable as the store grows (see ``split_episodes``).
Batches are gathered whole (``__getitems__``): in RAM with a
single vectorised fancy index into one frames array. A store over the RAM budget streams: its
actions and rewards (12 bytes a step) still sit in RAM, its frames come from HDF5 through a
cache of decoded chunk-aligned blocks (:mod:`wm_data.blocks`), and shuffled loaders draw
windows block group by block group, so each compressed chunk is decoded once per epoch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from wm_data.blocks import (
    DEFAULT_CACHE_BYTES,
    BlockCache,
    BlockLayout,
    BlockShuffleSampler,
    block_frames_for,
)
from wm_data.store import DEFAULT_CHUNK_FRAMES, RAM_SIZE, ReplayReader

Split = Literal["train", "val", "test", "all"]
StreamSampling = Literal["blocks", "windows"]
SPLITS = ("train", "val", "test")
RAM_BUDGET_ENV = "WM_DATA_RAM_BUDGET"


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A good 64-bit integer hash, vectorised (stable across platforms and numpy versions)."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def episode_uniform(episodes: np.ndarray, split_seed: int = 0) -> np.ndarray:
    """A number in [0, 1) per episode from a hash of ``(split_seed, shard, index in shard)``.

    It depends on nothing but the episode's own identity, so appending episodes (or shards)
    never changes the number of an episode already stored.
    """
    key = (episodes["shard"].astype(np.uint64) << np.uint64(40)) | episodes["index"].astype(
        np.uint64
    )
    seed_hash = _splitmix64(np.array([split_seed], dtype=np.uint64))[0]
    return (_splitmix64(key ^ seed_hash) >> np.uint64(11)).astype(np.float64) / float(2**53)


def split_episodes(
    episodes: np.ndarray,
    val_fraction: float = 0.15,
    split_seed: int = 0,
    test_fraction: float = 0.15,
) -> dict[str, np.ndarray]:
    """Episode positions of each split: ``{"train", "val", "test"}``, sorted and disjoint.

    An episode whose hash number ``u`` (``episode_uniform``) is below ``test_fraction`` is a test
    episode, below ``test_fraction + val_fraction`` a validation one, else a training one: its
    split never changes as the store grows. A store so small that a split with a positive
    fraction gets no episode lends it the training episode with the lowest ``u`` (while at
    least one training episode remains); such a loan ends once the store holds an episode of
    that split's own.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must leave training episodes, got "
            f"{val_fraction} + {test_fraction}"
        )
    u = episode_uniform(episodes, split_seed)
    code = np.where(u < test_fraction, 2, np.where(u < test_fraction + val_fraction, 1, 0))
    for split_code, fraction in ((2, test_fraction), (1, val_fraction)):
        train = np.flatnonzero(code == 0)
        if fraction > 0 and not (code == split_code).any() and len(train) >= 2:
            code[train[np.argmin(u[train])]] = split_code
    return {name: np.flatnonzero(code == c) for c, name in enumerate(SPLITS)}


def ram_budget() -> int:
    """Bytes the in-RAM mode may use by default: ``$WM_DATA_RAM_BUDGET`` or half of free RAM."""
    env = os.environ.get(RAM_BUDGET_ENV)
    if env:
        return int(float(env))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 2 * 2**30


def _check_arguments(
    context: int, horizon: int, split: str, stream_sampling: str, stream_cache_bytes: int
) -> None:
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context!r}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon!r}")
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be 'train', 'val', 'test' or 'all', got {split!r}")
    if stream_sampling not in ("blocks", "windows"):
        raise ValueError(f"stream_sampling must be 'blocks' or 'windows', got {stream_sampling!r}")
    if stream_cache_bytes < 1:
        raise ValueError(f"stream_cache_bytes must be >= 1, got {stream_cache_bytes!r}")


def _runs(shards: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> list[tuple[int, int, int]]:
    """Merge per-episode ranges that touch within a shard into (shard, start, stop) reads."""
    runs: list[list[int]] = []
    for sh, a, b in zip(shards.tolist(), starts.tolist(), stops.tolist(), strict=True):
        if runs and runs[-1][0] == sh and runs[-1][2] == a:
            runs[-1][2] = b
        else:
            runs.append([sh, a, b])
    return [tuple(r) for r in runs]  # type: ignore[misc]


class WindowDataset(Dataset):
    """Windows of ``context + horizon`` frames with their ``horizon`` actions and rewards.

    Item ``i`` (and each row of a batch) holds ``frames uint8 [T+K, C, H, W]``,
    ``actions int64 [K]``, ``rewards float32 [K]``, ``index int64`` and, with
    ``include_ram``, ``ram uint8 [T+K, 128]``. The state at step k is ``frames[k:k+T]`` and
    action/reward k lead from state k to state k+1.

    Streaming (``in_memory=False``, or a store over the RAM budget) keeps at most
    ``stream_cache_bytes`` of decoded blocks per process. With ``stream_sampling="blocks"``
    (the default) a shuffled :func:`make_loader` orders each epoch block group by block group
    (:class:`~wm_data.blocks.BlockShuffleSampler`, each window still once per epoch) and every
    batch is served from the block cache; ``"windows"`` keeps fully random windows, each read
    from HDF5 on its own (several times slower; only for access patterns that need it).
    """

    def __init__(
        self,
        source: ReplayReader | str | Path | Sequence[str | Path],
        *,
        context: int = 4,
        horizon: int = 1,
        split: Split = "train",
        val_fraction: float = 0.15,
        split_seed: int = 0,
        test_fraction: float = 0.15,
        in_memory: bool | None = None,
        include_ram: bool = False,
        expect: Mapping[str, Any] | None = None,
        ram_budget_bytes: int | None = None,
        stream_cache_bytes: int = DEFAULT_CACHE_BYTES,
        stream_sampling: StreamSampling = "blocks",
    ) -> None:
        _check_arguments(context, horizon, split, stream_sampling, stream_cache_bytes)
        reader = source if isinstance(source, ReplayReader) else ReplayReader(source, expect)
        if include_ram and not reader.has_ram:
            raise ValueError("include_ram=True but the store has no emulator RAM (has_ram=False)")
        self.reader = reader
        self.context, self.horizon = int(context), int(horizon)
        self.window = self.context + self.horizon
        self.split, self.include_ram = split, bool(include_ram)
        self.val_fraction, self.split_seed = float(val_fraction), int(split_seed)
        self.test_fraction = float(test_fraction)
        self.stream_sampling: StreamSampling = stream_sampling
        self.stream_cache_bytes = int(stream_cache_bytes)
        self.metadata: dict[str, Any] = dict(reader.metadata)
        self.frame_shape: tuple[int, int, int] = reader.frame_shape
        self.num_actions: int = reader.num_actions

        table = reader.episodes
        if split == "all":
            chosen = np.arange(len(table))
        else:
            chosen = split_episodes(table, val_fraction, split_seed, test_fraction)[split]
        self.episode_ids = chosen
        rows = table[chosen]
        lengths = rows["length"].astype(np.int64)
        per_episode = np.maximum(lengths + 2 - self.window, 0)
        self.windows_per_episode = per_episode
        n = int(per_episode.sum())
        # Window -> (episode position, offset in episode), all vectorised.
        self._win_episode = np.repeat(np.arange(len(rows)), per_episode)
        first = np.cumsum(per_episode) - per_episode
        self._win_offset = np.arange(n) - np.repeat(first, per_episode)

        frame_bytes = int(np.prod(self.frame_shape)) + (RAM_SIZE if include_ram else 0)
        need = int((lengths + 1).sum()) * frame_bytes
        if in_memory is None:
            in_memory = need <= (ram_budget() if ram_budget_bytes is None else ram_budget_bytes)
        self.in_memory = bool(in_memory)
        self._shard = rows["shard"].astype(np.int64)
        self._frame_start_shard = rows["frame_start"].astype(np.int64)
        self._step_start_shard = rows["step_start"].astype(np.int64)
        self._load_steps(lengths)
        self._cache: BlockCache | None = None
        if self.in_memory:
            self._load(lengths)
        else:
            self._plan_stream(lengths, frame_bytes)
        self._frame_arange = np.arange(self.window, dtype=np.int64)
        self._step_arange = np.arange(self.horizon, dtype=np.int64)

    def _plan_stream(self, lengths: np.ndarray, frame_bytes: int) -> None:
        """Where each window's frames are in its shard, and the blocks that hold them."""
        self._win_shard = self._shard[self._win_episode]
        self._win_frame = self._frame_start_shard[self._win_episode] + self._win_offset
        self._chunk = int(self.metadata.get("chunk_frames", DEFAULT_CHUNK_FRAMES))
        self._frame_bytes = frame_bytes
        self.blocks = BlockLayout.build(
            block_frames_for(self._chunk, frame_bytes),
            self.window,
            self._shard,
            self._frame_start_shard,
            lengths + 1,
            self._win_episode,
            self._win_offset,
        )

    def _gather_runs(self, name: str, runs: list[tuple[int, int, int]], shape: tuple, dtype: Any):
        """Rows of ``runs`` (shard, start, stop) of dataset ``name``, concatenated."""
        total = sum(b - a for _, a, b in runs)
        out = np.empty((total, *shape), dtype)
        pos = 0
        for sh, a, b in runs:
            out[pos : pos + b - a] = self.reader.read(name, sh, a, b)
            pos += b - a
        return out

    def _load_steps(self, lengths: np.ndarray) -> None:
        """Actions and rewards of the chosen episodes in RAM (12 bytes a step, in every mode)."""
        s_start = self._step_start_shard
        s_runs = _runs(self._shard, s_start, s_start + lengths)
        self._actions = self._gather_runs("actions", s_runs, (), np.int64)
        self._rewards = self._gather_runs("rewards", s_runs, (), np.float32)
        compact_s = np.cumsum(lengths) - lengths
        self._win_step = compact_s[self._win_episode] + self._win_offset + self.context - 1

    def _load(self, lengths: np.ndarray) -> None:
        """Read the chosen episodes' frames into one contiguous array."""
        f_start = self._frame_start_shard
        f_runs = _runs(self._shard, f_start, f_start + lengths + 1)
        self._frames = self._gather_runs("frames", f_runs, self.frame_shape, np.uint8)
        self._ram = (
            self._gather_runs("ram", f_runs, (RAM_SIZE,), np.uint8) if self.include_ram else None
        )
        self.reader.close()
        compact_f = np.cumsum(lengths + 1) - (lengths + 1)
        self._win_frame = compact_f[self._win_episode] + self._win_offset

    def __len__(self) -> int:
        return len(self._win_episode)

    def window_episode(self, indices: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Global episode position (in the reader's table) and frame offset of each window."""
        idx = np.asarray(indices, dtype=np.int64)
        return self.episode_ids[self._win_episode[idx]], self._win_offset[idx]

    def _check(self, indices: Any) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"window index out of range for a dataset of {n} windows")
        return np.where(idx < 0, idx + n, idx)

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """One batch: a single gather per field (no per-sample Python work)."""
        idx = self._check(indices)
        if self.in_memory:
            fi = self._win_frame[idx, None] + self._frame_arange
            views = {"frames": self._frames[fi]}
            if self._ram is not None:
                views["ram"] = self._ram[fi]
        else:
            views = self._stream(idx)
        si = self._win_step[idx, None] + self._step_arange
        batch = {
            "frames": torch.from_numpy(views["frames"]),
            "actions": torch.from_numpy(self._actions[si]),
            "rewards": torch.from_numpy(self._rewards[si]),
            "index": torch.from_numpy(idx),
        }
        if "ram" in views:
            batch["ram"] = torch.from_numpy(views["ram"])
        return batch

    @property
    def stream_cache(self) -> BlockCache:
        """This process's cache of decoded blocks (streaming mode; made on first use)."""
        if self._cache is None:
            shapes = {"frames": self.frame_shape}
            if self.include_ram:
                shapes["ram"] = (RAM_SIZE,)
            slots = BlockCache.slots_for(self.blocks, self._frame_bytes, self.stream_cache_bytes)
            self._cache = BlockCache(self.blocks, shapes, self.reader.read_into, slots)
        return self._cache

    def _stream(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Frames (and RAM) of a batch: from the block cache when the batch's blocks fit in it
        and are worth decoding whole, else each window's span read from HDF5."""
        cache = self.stream_cache
        needed = np.unique(self.blocks.win_block[idx])
        if len(needed) <= cache.slots and (
            # Block order (block sampler, sequential reads) always pays off; random access only
            # when decoding the missing blocks costs no more than a chunk per window.
            self.stream_sampling == "blocks"
            or len(cache.missing(needed)) * self.blocks.block_frames <= len(idx) * self._chunk
        ):
            cache.ensure(needed)
            return cache.gather(idx, self._frame_arange)
        return self._read_spans(idx)

    def _read_spans(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        b, w = len(idx), self.window
        out = {"frames": np.empty((b, w, *self.frame_shape), np.uint8)}
        if self.include_ram:
            out["ram"] = np.empty((b, w, RAM_SIZE), np.uint8)
        shard, f0 = self._win_shard[idx], self._win_frame[idx]
        gap = self._chunk
        for sh in np.unique(shard):
            rows = np.flatnonzero(shard == sh)
            rows = rows[np.argsort(f0[rows], kind="stable")]
            # Spans of windows close enough to be read with one slice.
            breaks = np.flatnonzero(np.diff(f0[rows]) > gap) + 1
            for span in np.split(rows, breaks):
                a, z = int(f0[span[0]]), int(f0[span[-1]]) + w
                offs = (f0[span] - a)[:, None] + self._frame_arange
                for name, array in out.items():
                    array[span] = self.reader.read(name, int(sh), a, z)[offs]
        return out

    def block_sampler(self, seed: int = 0, follow: Any = None) -> BlockShuffleSampler:
        """The epoch order that streams from the block cache: groups of half the cache's
        blocks (all of them when they fit), shuffled together (``follow``: a
        ``DistributedSampler`` to take epoch, seed, rank and replicas from)."""
        if self.in_memory:
            raise ValueError("block_sampler is for streaming datasets (in_memory=False)")
        slots, blocks = self.stream_cache.slots, self.blocks.num_blocks
        # A batch may span two groups, so a group is half the cache, or every block if they
        # all fit in it at once.
        group = blocks if slots >= blocks else max(1, slots // 2)
        return BlockShuffleSampler(self.blocks.win_block, group, seed=seed, follow=follow)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        batch = self.__getitems__([index])
        return {key: value[0] for key, value in batch.items()}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["reader"] = self.reader  # ReplayReader drops its h5py handles when pickled
        state["_cache"] = None  # each process decodes into a cache of its own
        return state

    def __repr__(self) -> str:
        mode = "in-memory" if self.in_memory else "streaming"
        return (
            f"WindowDataset({len(self)} windows, {len(self.episode_ids)} episodes, "
            f"split={self.split!r}, T={self.context}, K={self.horizon}, {mode})"
        )


def collate_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Batches come whole from ``__getitems__``; nothing left to collate."""
    return batch


def _streams_blocks(dataset: Any) -> bool:
    return (
        isinstance(dataset, WindowDataset)
        and not dataset.in_memory
        and dataset.stream_sampling == "blocks"
        and len(dataset) > 0
    )


def make_loader(
    dataset: WindowDataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    drop_last: bool = False,
    num_workers: int = 0,
    sampler: Sampler | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader fetching each batch with one ``__getitems__`` call; shuffling seeded.

    For a streaming dataset with ``stream_sampling="blocks"``, shuffling (``shuffle=True``, or
    a shuffling ``DistributedSampler``, whose ``set_epoch``, seed, rank and replicas are
    followed) draws windows block group by block group (:meth:`WindowDataset.block_sampler`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if _streams_blocks(dataset):
        if sampler is None and shuffle:
            sampler = dataset.block_sampler(seed=seed)
        elif isinstance(sampler, DistributedSampler) and sampler.shuffle:
            sampler = dataset.block_sampler(follow=sampler)
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=num_workers,
        collate_fn=collate_batch,
        generator=generator,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
    )
