from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from wm_data.store import (
    SCHEMA_VERSION,
    ReplayReader,
    ReplayWriter,
    StoreError,
    StoreMismatchError,
    open_store,
)
from wm_data.store.filters import dataset_filters

FRAME_SHAPE = (1, 4, 4)


def test_real_store_round_trip(tiny_store: Path) -> None:
    with open_store(tiny_store) as r:
        meta = r.metadata
        assert meta["format"] == "wm-replay" and meta["version"] == SCHEMA_VERSION
        assert meta["env_id"] == "ALE/Assault-v5" and meta["frameskip"] == 4
        assert meta["obs_shape"] == [1, 16, 16] and meta["grayscale"] is True
        assert meta["num_actions"] == 7 and meta["action_meanings"][0] == "NOOP"
        assert meta["policy"] == "random" and meta["has_ram"] is True
        assert meta["env_backend"] == "gymnasium" and meta["package_version"]
        assert meta["preprocessing"]["resize"] == "cv2.INTER_AREA" and "created" in meta
        assert r.num_episodes == 4
        total = 0
        for i, ep in enumerate(r):
            length = len(ep)
            assert 1 <= length <= 30
            assert ep.frames.shape == (length + 1, 1, 16, 16) and ep.frames.dtype == np.uint8
            assert ep.ram.shape == (length + 1, 128) and ep.ram.dtype == np.uint8
            assert ep.actions.dtype == np.int64 and ep.rewards.dtype == np.float32
            assert ep.terminated[-1] or ep.truncated[-1]
            assert not (ep.terminated[:-1] | ep.truncated[:-1]).any()
            assert r.episodes["return"][i] == pytest.approx(ep.total_return)
            assert ep.frames.std() > 0  # real screens, not blanks
            total += length
        assert r.num_steps == total and r.num_frames == total + 4


def test_round_trip_is_exact_and_layout_as_designed(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "s.h5", [3, 5])
    with h5py.File(path, "r") as f:
        chunk = f["frames"].chunks[0]
        assert f["frames"].shape == (chunk + 5 + 1, *FRAME_SHAPE)  # episodes start on chunks
        assert f["frames"].dtype == np.uint8
        assert [c for c, _ in dataset_filters(f["frames"])] == [32004, 3]  # LZ4, Fletcher-32
        assert [c for c, _ in dataset_filters(f["ram"])][-2:] == [32015, 3]  # Zstandard
        assert f.attrs["compression"] == "lz4"
        assert 64 <= f["frames"].chunks[0] <= 256
        assert f["actions"].shape == (chunk + 5,) and f["rewards"].dtype == np.float32
        assert f["terminated"].dtype == bool and f["truncated"].dtype == bool
        assert f["ram"][:].shape == (chunk + 6, 128) and f["ram"][:].dtype == np.uint8
        assert list(f["episodes"].dtype.names) == [
            "frame_start",
            "step_start",
            "length",
            "return",
            "seed",
        ]
        assert f["episodes"]["frame_start"].tolist() == [0, chunk]
        assert f["episodes"]["step_start"].tolist() == [0, chunk]
    r = ReplayReader(path)
    ep = r.episode(1)
    assert ep.frames[:, 0, 0, 1].tolist() == list(range(6))
    assert (ep.frames[:, 0, 0, 0] == 1).all() and ep.seed == 1
    assert ep.rewards.tolist() == [1000.0 + i for i in range(5)]
    assert ep.terminated.tolist() == [False] * 4 + [True]


def test_writer_rejects_bad_episodes(tmp_path: Path, store_meta) -> None:
    with ReplayWriter(tmp_path / "w.h5", store_meta()) as w:
        frames = np.zeros((4, *FRAME_SHAPE), np.uint8)
        ram = np.zeros((4, 128), np.uint8)
        with pytest.raises(ValueError, match="frames must have shape"):
            w.add_episode(frames, np.zeros(4), np.zeros(4), ram=ram)
        with pytest.raises(ValueError, match="uint8"):
            w.add_episode(frames.astype(np.float32), np.zeros(3), np.zeros(3), ram=ram)
        with pytest.raises(ValueError, match="ram"):
            w.add_episode(frames, np.zeros(3), np.zeros(3))
        with pytest.raises(ValueError, match="rewards"):
            w.add_episode(frames, np.zeros(3), np.zeros(2), ram=ram)
        assert w.num_episodes == 0


def test_reopening_appends_and_never_overwrites(tmp_path: Path, write_store, store_meta) -> None:
    path = write_store(tmp_path / "a.h5", [3, 4])
    write_store(path, [5], episode_offset=2)
    r = ReplayReader(path)
    assert r.num_episodes == 3 and r.episodes["length"].tolist() == [3, 4, 5]
    assert r.episode(2).frames[0, 0, 0, 0] == 2
    r.close()
    with ReplayWriter(path, store_meta(), overwrite=True) as w:
        assert w.num_episodes == 0
    assert ReplayReader(path).num_episodes == 0


def test_reopen_trims_rows_beyond_episode_table(tmp_path: Path, write_store, store_meta) -> None:
    path = write_store(tmp_path / "t.h5", [3])
    # Leftovers of an interrupted episode: data written, table row never added.
    with h5py.File(path, "r+") as f:
        for name in ("frames", "ram"):
            f[name].resize(f[name].shape[0] + 7, axis=0)
        for name in ("actions", "rewards", "terminated", "truncated"):
            f[name].resize(f[name].shape[0] + 6, axis=0)
    r = ReplayReader(path)
    assert r.num_episodes == 1 and r.num_frames == 4
    r.close()
    with ReplayWriter(path, store_meta()) as w:
        assert w.num_frames == 4 and w.num_steps == 3
    with h5py.File(path, "r") as f:
        assert f["frames"].shape[0] == 4 and f["actions"].shape[0] == 3
    write_store(path, [2], episode_offset=1)
    r = ReplayReader(path)
    assert r.episode(1).frames[:, 0, 0, 0].tolist() == [1, 1, 1]
    assert r.episode(1).frames[:, 0, 0, 1].tolist() == [0, 1, 2]
    assert r.num_frames == 7 and r.num_steps == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [("env_id", "ALE/Pong-v5"), ("frameskip", 2), ("obs_shape", [1, 8, 8]), ("has_ram", False)],
)
def test_metadata_mismatch_names_the_field(
    tmp_path: Path, field: str, value: object, write_store, store_meta
) -> None:
    path = write_store(tmp_path / "m.h5", [3])
    with pytest.raises(StoreMismatchError, match=field) as info:
        ReplayWriter(path, store_meta(**{field: value}))
    assert info.value.field == field
    with pytest.raises(StoreMismatchError, match=field):
        ReplayReader(path, expect={field: value})
    assert ReplayReader(path, expect={"env_id": "ALE/Assault-v5", "obs_shape": (1, 4, 4)})


def test_not_a_store(tmp_path: Path) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(StoreError, match="not an HDF5 file"):
        open_store(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(StoreError, match="not a replay store"):
        open_store(other)
    with pytest.raises(StoreError, match="no such"):
        open_store(tmp_path / "missing.h5")
    with pytest.raises(StoreError, match="glob matches no"):
        open_store(str(tmp_path / "none-*.h5"))


def test_newer_schema_is_refused(tmp_path: Path, write_store, store_meta) -> None:
    path = write_store(tmp_path / "v.h5", [3])
    with h5py.File(path, "r+") as f:
        f.attrs["version"] = SCHEMA_VERSION + 1
    with pytest.raises(StoreError, match="newer"):
        open_store(path)
    with pytest.raises(StoreError, match="newer"):
        ReplayWriter(path, store_meta())


def test_truncated_file_fails_clearly(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "c.h5", [50, 60])
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(StoreError, match="truncated or corrupt"):
        open_store(path)


def test_missing_dataset_is_corrupt(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "d.h5", [3])
    with h5py.File(path, "r+") as f:
        del f["rewards"]
    with pytest.raises(StoreError, match="rewards"):
        open_store(path)


def test_shards_read_as_one(tmp_path: Path, write_store) -> None:
    write_store(tmp_path / "shard-000.h5", [3, 4])
    write_store(tmp_path / "shard-001.h5", [5], episode_offset=10)
    for source in (
        tmp_path,
        str(tmp_path / "shard-*.h5"),
        [tmp_path / "shard-000.h5", tmp_path / "shard-001.h5"],
    ):
        r = open_store(source)
        assert r.num_episodes == 3 and r.num_steps == 12
        assert r.episodes["shard"].tolist() == [0, 0, 1]
        assert r.episode(2).frames[0, 0, 0, 0] == 10
        assert len(r.metadata["shards"]) == 2


def test_shards_with_different_settings_are_refused(tmp_path: Path, write_store) -> None:
    write_store(tmp_path / "a.h5", [3])
    write_store(tmp_path / "b.h5", [3], frameskip=2)
    with pytest.raises(StoreMismatchError, match="frameskip"):
        open_store(tmp_path)


def test_reader_pickles_without_h5_handles(tmp_path: Path, write_store) -> None:
    import pickle

    r = open_store(write_store(tmp_path / "p.h5", [3]))
    r.episode(0)
    clone = pickle.loads(pickle.dumps(r))
    assert clone.episode(0).frames.shape == (4, *FRAME_SHAPE)


def test_structured_metadata_round_trips(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "j.h5", [2], extra_info={"a": [1, 2]})
    meta = open_store(path).metadata
    assert meta["extra_info"] == {"a": [1, 2]}
    with h5py.File(path, "r") as f:
        assert json.loads(f.attrs["extra_info"]) == {"a": [1, 2]}
    assert os.path.getsize(path) > 0


def test_store_records_the_env_it_was_collected_in(tiny_store: Path) -> None:
    from wm_data.envs import EnvSpec, make_env

    with open_store(tiny_store) as r:
        spec = EnvSpec.from_metadata(r.metadata)
        frame = r.episode(0).frames[0]
    assert spec == EnvSpec(size=16, max_episode_steps=30)
    obs, _ = make_env(spec).reset(seed=0)
    assert obs.shape[1:] == frame.shape[1:] and obs.shape[0] == spec.frame_stack * frame.shape[0]


def test_new_store_appears_whole_and_leaves_no_temporary_file(tmp_path: Path, write_store) -> None:
    write_store(tmp_path / "s.h5", [3])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".s.h5.lock", "s.h5"]
