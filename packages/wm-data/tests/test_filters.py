"""Compression filters: every supported filter round-trips real frames bit-exactly, the file
records its filter, gzip stores written before Zstandard became the default still read and
append, and a store whose filter this Python cannot decode fails with one clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from wm_data.dataset import WindowDataset
from wm_data.store import COMPRESSIONS, ReplayWriter, open_store
from wm_data.store.filters import check_compression, dataset_filters, describe

FILTER_IDS = {"zstd": 32015, "lz4": 32004, "gzip": 1, "lzf": 32000, "none": None}


def copy_store(src: Path, dst: Path, **writer_options) -> Path:
    """The episodes of store ``src`` written again with other writer options."""
    with open_store(src) as r, ReplayWriter(dst, r.metadata, **writer_options) as w:
        for ep in r:
            w.add_episode(
                ep.frames, ep.actions, ep.rewards, ep.terminated, ep.truncated, ep.ram, ep.seed
            )
    return dst


def same_episodes(a: Path, b: Path) -> None:
    with open_store(a) as ra, open_store(b) as rb:
        assert ra.num_episodes == rb.num_episodes
        for x, y in zip(ra, rb, strict=True):
            assert np.array_equal(x.frames, y.frames) and np.array_equal(x.ram, y.ram)
            assert np.array_equal(x.actions, y.actions)
            assert np.array_equal(x.rewards, y.rewards)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_filter_round_trips_real_frames(tiny_store: Path, tmp_path: Path, compression):
    out = copy_store(tiny_store, tmp_path / f"{compression}.h5", compression=compression)
    same_episodes(tiny_store, out)
    with h5py.File(out, "r") as f:
        ids = [code for code, _ in dataset_filters(f["frames"])]
        want = FILTER_IDS[compression]
        assert ids == ([] if want is None else [want]) + [3]  # then the Fletcher-32 checksum
        assert f.attrs["compression"] == describe(compression)


def test_gzip_store_still_reads_and_appends_with_its_own_filter(tiny_store: Path, tmp_path):
    old = copy_store(tiny_store, tmp_path / "old.h5", compression="gzip", compression_opts=1)
    with open_store(old) as r:
        assert r.metadata["compression"] == "gzip:1"
        first, meta = r.episode(0), r.metadata
    ds = WindowDataset(old, split="all", in_memory=False)
    assert np.array_equal(ds[0]["frames"].numpy(), first.frames[:5])
    ds.reader.close()
    with ReplayWriter(old, meta) as w:  # the default is lz4 now
        w.add_episode(first.frames, first.actions, first.rewards, ram=first.ram)
    with h5py.File(old, "r") as f:
        assert [c for c, _ in dataset_filters(f["frames"])] == [1, 3]
    with open_store(old) as r:
        assert np.array_equal(r.episode(-1).frames, first.frames)


def test_compression_names_and_levels_are_checked() -> None:
    assert check_compression("zstd") == ("zstd", 3) and check_compression("lz4") == ("lz4", None)
    assert check_compression(None) == ("none", None)
    assert describe("gzip", 4) == "gzip:4" and describe("lzf") == "lzf"
    with pytest.raises(ValueError, match="compression must be one of"):
        check_compression("zip")
    with pytest.raises(ValueError, match=r"zstd compression level must be an int in \[1, 22\]"):
        check_compression("zstd", 40)


WITHOUT_PLUGIN = """
import sys
sys.modules["hdf5plugin"] = None  # as if it were not installed
from wm_data.dataset import WindowDataset
from wm_data.store import ReplayWriter, StoreError, open_store
zstd, gzip, meta = sys.argv[1:4]
for make in (lambda: open_store(zstd), lambda: WindowDataset(zstd, split="all")):
    try:
        make()
    except StoreError as exc:
        print("REFUSED", exc)
with open_store(gzip) as r:
    print("GZIP", r.num_episodes, r.episode(0).frames.shape)
    try:
        ReplayWriter(sys.argv[4], r.metadata)
    except StoreError as exc:
        print("WRITE", exc)
"""


def test_a_plugin_filter_without_hdf5plugin_fails_with_a_clear_error(tiny_store, tmp_path):
    zstd = copy_store(tiny_store, tmp_path / "z.h5", compression="zstd")
    gzip = copy_store(tiny_store, tmp_path / "g.h5", compression="gzip")
    new = tmp_path / "new.h5"
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_PLUGIN, str(zstd), str(gzip), "", str(new)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    refused = [line for line in out if line.startswith("REFUSED")]
    assert len(refused) == 2
    for line in refused:
        assert f"{zstd}: /frames is compressed with the zstd filter (HDF5 filter 32015)" in line
        assert "pip install hdf5plugin" in line
    assert "GZIP 4 " in "\n".join(out)  # gzip stores need no plugin
    assert any("needs the hdf5plugin package" in line for line in out if line.startswith("WRITE"))
    assert not new.exists()


def test_collect_writes_the_filter_it_is_given(tmp_path: Path) -> None:
    from wm_data.collect import collect

    res = collect(
        tmp_path / "z", compression="zstd", target_steps=None, target_episodes=1, size=16,
        max_episode_steps=10, num_envs=1, policy="random", progress=False,
    )  # fmt: skip
    with open_store(res.path) as r:
        assert r.metadata["compression"] == "zstd:3" and r.num_episodes == 1
    with h5py.File(res.shards[0], "r") as f:
        assert [c for c, _ in dataset_filters(f["frames"])] == [32015, 3]
