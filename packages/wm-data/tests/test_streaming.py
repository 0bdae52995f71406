"""Streaming a store through the block cache: the same windows as in RAM (across block and
chunk boundaries), every window once per epoch in block groups, each block decoded once per
epoch, ranks sharded like DistributedSampler, and random access still correct."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

import wm_data.dataset as dataset_module
from wm_data.blocks import BlockShuffleSampler
from wm_data.dataset import WindowDataset, make_loader

LENGTHS = [600, 300, 1000, 5, 257]  # several blocks per episode, one too short to matter
CONTEXT, HORIZON = 4, 2
SLOTS = 4


@pytest.fixture
def store(tmp_path: Path, write_store, monkeypatch) -> Path:
    # One 256-frame chunk per block, so the episodes above hold several blocks each.
    monkeypatch.setattr(dataset_module, "block_frames_for", lambda chunk, frame_bytes: chunk)
    return write_store(tmp_path / "long.h5", LENGTHS)


def pair(store: Path, **kw) -> tuple[WindowDataset, WindowDataset]:
    args = dict(context=CONTEXT, horizon=HORIZON, split="all", include_ram=True)
    mem = WindowDataset(store, in_memory=True, **args)
    slot_bytes = (256 + CONTEXT + HORIZON - 1) * (16 + 128)
    stream = WindowDataset(
        store, in_memory=False, stream_cache_bytes=SLOTS * slot_bytes, **args, **kw
    )
    assert stream.stream_cache.slots == SLOTS < stream.blocks.num_blocks
    return mem, stream


def assert_same(mem: WindowDataset, stream: WindowDataset, idx) -> None:
    a, b = mem.__getitems__(idx), stream.__getitems__(idx)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_streamed_windows_equal_in_ram_ones_across_block_boundaries(store: Path) -> None:
    mem, stream = pair(store)
    n = len(mem)
    crossing = np.flatnonzero(stream.blocks.win_offset > 256 - CONTEXT - HORIZON)
    assert len(crossing) > 10  # windows that read past their block's own frames
    for start in range(0, n, 64):  # sequential batches
        assert_same(mem, stream, np.arange(start, min(start + 64, n)))
    rng = np.random.default_rng(0)
    for _ in range(20):  # small random batches, blocks loaded and evicted
        assert_same(mem, stream, rng.choice(n, 3, replace=False))
    assert_same(mem, stream, crossing[:3])


def test_block_sampler_draws_every_window_once_per_epoch(store: Path) -> None:
    _, stream = pair(store)
    sampler = stream.block_sampler(seed=3)
    assert isinstance(sampler, BlockShuffleSampler) and sampler.group_blocks == SLOTS // 2
    first, second = list(sampler), list(sampler)  # each iteration is a new epoch
    assert sorted(first) == sorted(second) == list(range(len(stream)))
    assert first != second
    assert list(stream.block_sampler(seed=3)) == first  # seeded
    blocks = stream.blocks.win_block[np.asarray(first)]
    # Each block's windows lie in one stretch of the order; stretches that overlap form the
    # groups shuffled together, at most group_blocks blocks each, interleaved within.
    span = {
        b: (int(np.flatnonzero(blocks == b)[0]), int(np.flatnonzero(blocks == b)[-1]))
        for b in set(blocks.tolist())
    }
    clusters: list[list[int]] = []
    end = -1
    for b, (lo, hi) in sorted(span.items(), key=lambda item: item[1]):
        if lo > end:
            clusters.append([])
        clusters[-1].append(b)
        end = max(end, hi)
    assert len(clusters) >= stream.blocks.num_blocks // sampler.group_blocks
    assert all(len(c) <= sampler.group_blocks for c in clusters)
    big = [c for c in clusters if len(c) == 2 and all((blocks == b).sum() > 50 for b in c)]
    assert big
    for c in big:
        lo, hi = min(span[b][0] for b in c), max(span[b][1] for b in c)
        assert (np.diff(blocks[lo : hi + 1]) != 0).sum() > 20  # shuffled, not block after block


def test_block_sampler_shards_ranks_and_follows_set_epoch(store: Path) -> None:
    _, stream = pair(store)
    n = len(stream)
    ranks = []
    for rank in range(3):
        dist = DistributedSampler(stream, 3, rank, shuffle=True, seed=5)
        sampler = stream.block_sampler(follow=dist)
        assert len(sampler) == len(dist)
        ranks.append(list(sampler))
        dist.set_epoch(1)
        assert list(sampler) != ranks[-1]
    assert all(len(r) == -(-n // 3) for r in ranks)
    assert set().union(*map(set, ranks)) == set(range(n))


def test_shuffled_loader_decodes_each_block_once_per_epoch(store: Path) -> None:
    mem, stream = pair(store)
    dist = DistributedSampler(stream, 1, 0, shuffle=True, seed=0)  # as wm-train passes it
    loader = make_loader(stream, 32, shuffle=False, sampler=dist)
    assert isinstance(loader.sampler, BlockShuffleSampler)
    seen = []
    for batch in loader:
        idx = batch["index"].numpy()
        assert len(np.unique(stream.blocks.win_block[idx])) <= SLOTS
        for key, value in mem.__getitems__(idx).items():
            torch.testing.assert_close(batch[key], value, rtol=0, atol=0)
        seen.extend(idx.tolist())
    assert sorted(seen) == list(range(len(stream)))
    assert stream.stream_cache.loaded == stream.blocks.num_blocks  # each block decoded once
    dist.set_epoch(1)
    assert [i for b in loader for i in b["index"].tolist()] != seen


def test_in_ram_and_window_sampling_keep_plain_random_order(store: Path) -> None:
    mem, stream = pair(store, stream_sampling="windows")
    assert not isinstance(make_loader(mem, 32, shuffle=True).sampler, BlockShuffleSampler)
    assert not isinstance(make_loader(stream, 32, shuffle=True).sampler, BlockShuffleSampler)
    idx = np.random.default_rng(1).choice(len(mem), 40, replace=False)
    assert_same(mem, stream, idx)  # 40 windows in more blocks than the cache: read as spans
    assert stream.stream_cache.loaded == 0
    with pytest.raises(ValueError, match="streaming"):
        mem.block_sampler()
    with pytest.raises(ValueError, match="stream_sampling"):
        WindowDataset(store, stream_sampling="random")


def test_a_cache_that_holds_every_block_shuffles_them_all_together(store: Path) -> None:
    mem, _ = pair(store)
    roomy = WindowDataset(store, context=CONTEXT, horizon=HORIZON, split="all", in_memory=False)
    assert roomy.stream_cache.slots == roomy.blocks.num_blocks  # the default 128 MiB holds all
    sampler = roomy.block_sampler(seed=0)
    assert sampler.group_blocks == roomy.blocks.num_blocks
    for batch in make_loader(roomy, 64, shuffle=True, seed=0):
        idx = batch["index"].numpy()
        torch.testing.assert_close(batch["frames"], mem.__getitems__(idx)["frames"])
    assert roomy.stream_cache.loaded == roomy.blocks.num_blocks
