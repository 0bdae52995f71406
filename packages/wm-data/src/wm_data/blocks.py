"""Chunk-aligned blocks of windows: how a store larger than RAM streams at nearly in-RAM speed.

Reading a random window from HDF5 decodes a whole compressed chunk (256 frames) for the 5
frames it needs, so fully random windows cost ~50x the decode work of the frames they use. A
*block* is instead a span of ``block_frames`` consecutive frames of one episode (a multiple of
the chunk length, so it decodes whole chunks once) holding every window that starts in it; it
is read with the ``window - 1`` frames after it, so each of those windows is whole.

- :class:`BlockLayout` maps windows to blocks and blocks to the frame ranges they read.
- :class:`BlockCache` holds decoded blocks in one preallocated slab (least recently used out)
  and gathers a batch of windows from it with one fancy index, as the in-RAM mode does.
- :class:`BlockShuffleSampler` orders an epoch so that the cache is read block-wise: the blocks
  in a seeded random order, taken ``group_blocks`` at a time (the shuffle buffer), the windows
  of each group shuffled together. Every window is still drawn exactly once per epoch, so each
  episode is sampled in proportion to its windows, as with fully random windows; what changes
  is that a batch mixes windows from ``group_blocks`` blocks (a few dozen episode stretches)
  instead of the whole split: batches are less i.i.d. than fully random ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Sampler

# Target bytes of one block: large enough that a block decodes several chunks at once, small
# enough that a cache of a few dozen blocks stays around 128 MiB.
BLOCK_BYTES = 4 * 2**20
DEFAULT_CACHE_BYTES = 128 * 2**20


def block_frames_for(chunk_frames: int, frame_bytes: int, target: int = BLOCK_BYTES) -> int:
    """Whole chunks per block: about ``target`` bytes of frames, at least one chunk."""
    chunk_bytes = max(1, chunk_frames * frame_bytes)
    return chunk_frames * max(1, round(target / chunk_bytes))


@dataclass
class BlockLayout:
    """Windows -> blocks -> frame ranges, for windows of ``window`` frames.

    ``shard``, ``start`` and ``stop`` give each block's frame range to read (in its shard);
    ``win_block`` and ``win_offset`` give each window's block and first frame within it.
    """

    block_frames: int
    window: int
    shard: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    win_block: np.ndarray
    win_offset: np.ndarray

    @classmethod
    def build(
        cls,
        block_frames: int,
        window: int,
        episode_shard: np.ndarray,
        episode_frame_start: np.ndarray,
        episode_frames: np.ndarray,
        win_episode: np.ndarray,
        win_offset: np.ndarray,
    ) -> BlockLayout:
        """From per-episode (shard, first frame, frame count) and per-window (episode position,
        offset in episode) arrays, all vectorised."""
        windows = np.maximum(episode_frames - window + 1, 0)
        blocks_per_episode = -(-windows // block_frames)
        first = np.cumsum(blocks_per_episode) - blocks_per_episode
        episode = np.repeat(np.arange(len(windows)), blocks_per_episode)
        j = np.arange(int(blocks_per_episode.sum())) - np.repeat(first, blocks_per_episode)
        start = episode_frame_start[episode] + j * block_frames
        stop = episode_frame_start[episode] + np.minimum(
            (j + 1) * block_frames + window - 1, episode_frames[episode]
        )
        within = win_offset // block_frames
        return cls(
            block_frames=int(block_frames),
            window=int(window),
            shard=episode_shard[episode].astype(np.int64),
            start=start.astype(np.int64),
            stop=stop.astype(np.int64),
            win_block=(first[win_episode] + within).astype(np.int64),
            win_offset=(win_offset - within * block_frames).astype(np.int64),
        )

    @property
    def num_blocks(self) -> int:
        return len(self.start)

    @property
    def slot_frames(self) -> int:
        """Frames one cached block may hold."""
        return self.block_frames + self.window - 1


Reader = Callable[[str, int, int, int, np.ndarray], None]


class BlockCache:
    """Decoded blocks of the named datasets (``frames``, optionally ``ram``) in fixed slabs.

    ``read(name, shard, start, stop, out)`` fills ``out`` with rows ``start:stop`` of a dataset.
    """

    def __init__(
        self,
        layout: BlockLayout,
        shapes: dict[str, tuple[int, ...]],
        read: Reader,
        slots: int,
    ) -> None:
        self.layout, self.read = layout, read
        self.slots = int(min(max(slots, 1), max(layout.num_blocks, 1)))
        self.slabs = {
            name: np.empty((self.slots, layout.slot_frames, *shape), np.uint8)
            for name, shape in shapes.items()
        }
        self.slot_of = np.full(layout.num_blocks, -1, np.int64)
        self.block_in = np.full(self.slots, -1, np.int64)
        self.last_used = np.full(self.slots, -1, np.int64)
        self.tick = 0
        self.loaded = 0  # blocks decoded so far (for benchmarks and tests)

    @classmethod
    def slots_for(cls, layout: BlockLayout, frame_bytes: int, cache_bytes: int) -> int:
        return max(2, cache_bytes // max(1, layout.slot_frames * frame_bytes))

    def missing(self, blocks: np.ndarray) -> np.ndarray:
        return blocks[self.slot_of[blocks] < 0]

    def ensure(self, blocks: np.ndarray) -> None:
        """Make every block in ``blocks`` (unique, at most ``slots``) resident."""
        self.tick += 1
        slots = self.slot_of[blocks]
        hit = slots >= 0
        self.last_used[slots[hit]] = self.tick
        if hit.all():
            return
        missing = blocks[~hit]
        missing = missing[np.lexsort((self.layout.start[missing], self.layout.shard[missing]))]
        order = np.argsort(self.last_used, kind="stable")  # empty slots (-1) first, then LRU
        free = order[self.last_used[order] < self.tick][: len(missing)]
        evicted = self.block_in[free]
        self.slot_of[evicted[evicted >= 0]] = -1
        lay = self.layout
        for block, slot in zip(missing.tolist(), free.tolist(), strict=True):
            a, z, sh = int(lay.start[block]), int(lay.stop[block]), int(lay.shard[block])
            for name, slab in self.slabs.items():
                self.read(name, sh, a, z, slab[slot, : z - a])
            self.loaded += 1
        self.block_in[free] = missing
        self.slot_of[missing] = free
        self.last_used[free] = self.tick

    def gather(self, windows: np.ndarray, arange: np.ndarray) -> dict[str, np.ndarray]:
        """``{name: [B, window, ...]}`` for windows whose blocks are resident."""
        lay = self.layout
        flat = self.slot_of[lay.win_block[windows]] * lay.slot_frames + lay.win_offset[windows]
        index = flat[:, None] + arange
        return {name: slab.reshape(-1, *slab.shape[2:])[index] for name, slab in self.slabs.items()}


class BlockShuffleSampler(Sampler[int]):
    """Window indices of one epoch, block group by block group (see the module docstring).

    Rank ``rank`` of ``num_replicas`` takes a contiguous share of the epoch's order, padded by
    repetition (or cut with ``drop_last``) to an equal length, as ``DistributedSampler`` does.
    With ``follow`` (a sampler with ``epoch``, ``seed``, ``num_replicas``, ``rank`` and
    ``drop_last``, e.g. the ``DistributedSampler`` a trainer calls ``set_epoch`` on), those
    settings are read from it at every epoch; otherwise each iteration starts a new epoch.
    """

    def __init__(
        self,
        win_block: np.ndarray,
        group_blocks: int,
        *,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
        follow: Any = None,
    ) -> None:
        if group_blocks < 1:
            raise ValueError(f"group_blocks must be >= 1, got {group_blocks!r}")
        self.win_block = np.asarray(win_block, np.int64)
        self.num_blocks = int(self.win_block.max()) + 1 if len(self.win_block) else 0
        self.group_blocks = int(group_blocks)
        self.seed, self.num_replicas, self.rank = int(seed), int(num_replicas), int(rank)
        self.drop_last, self.follow, self.epoch = bool(drop_last), follow, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _settings(self) -> tuple[int, int, int, int, bool]:
        f = self.follow
        if f is None:
            return self.seed, self.epoch, self.num_replicas, self.rank, self.drop_last
        return int(f.seed), int(f.epoch), int(f.num_replicas), int(f.rank), bool(f.drop_last)

    def __len__(self) -> int:
        _, _, replicas, _, drop_last = self._settings()
        n = len(self.win_block)
        return n // replicas if drop_last else math.ceil(n / replicas)

    def epoch_order(self, seed: int, epoch: int) -> np.ndarray:
        """Every window once: blocks in random groups, windows shuffled within a group."""
        rng = np.random.default_rng([seed, epoch])
        position = np.empty(self.num_blocks, np.int64)
        position[rng.permutation(self.num_blocks)] = np.arange(self.num_blocks)
        group = position[self.win_block] // self.group_blocks
        return np.lexsort((rng.random(len(self.win_block)), group))

    def __iter__(self) -> Iterator[int]:
        seed, epoch, replicas, rank, _ = self._settings()
        if self.follow is None:
            self.epoch += 1
        order = self.epoch_order(seed, epoch)
        per_rank = len(self)
        total = per_rank * replicas
        if total > len(order):  # pad by repeating from the start, as DistributedSampler does
            order = np.resize(order, total)
        return iter(order[rank * per_rank : (rank + 1) * per_rank].tolist())
