"""The episode table under a killed writer: an append writes new chunks only, a torn last
row costs only its own episode, and a torn in-place rewrite of an older store's shared table
chunk keeps every committed row (the file states a SIGKILL during ``write`` can leave)."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest

from wm_data.store import EPISODE_DTYPE, StoreError, open_store
from wm_data.store import table as table_module

PAGE = 4096


def chunk_bytes(path: Path) -> dict[tuple[str, int], tuple[int, bytes]]:
    """Every allocated chunk of every dataset: (dataset, index) -> (file offset, bytes)."""
    out = {}
    with h5py.File(path, "r") as f, open(path, "rb") as raw:
        for name, ds in f.items():
            for i in range(ds.id.get_num_chunks()):
                info = ds.id.get_chunk_info(i)
                raw.seek(info.byte_offset)
                out[name, info.chunk_offset[0]] = (info.byte_offset, raw.read(info.size))
    return out


def episodes_of(path: Path) -> list[tuple]:
    with open_store(path) as reader:
        return [
            (e.frames.tobytes(), e.actions.tobytes(), e.rewards.tobytes(), e.ram.tobytes())
            for e in reader
        ]


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def table_chunk(path: Path, row: int) -> int:
    """File offset of the table chunk holding ``row``."""
    with h5py.File(path, "r") as f:
        ds = f["episodes"]
        info = ds.id.get_chunk_info_by_coord((row // ds.chunks[0] * ds.chunks[0],))
        return info.byte_offset


def test_appending_episodes_never_rewrites_a_committed_chunk(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "s.h5", [3, 300, 5])
    before = chunk_bytes(path)
    assert sum(name == "episodes" for name, _ in before) == 3  # one chunk per table row
    write_store(path, [7, 2], episode_offset=3)
    after = chunk_bytes(path)
    for key, (offset, data) in before.items():
        assert after[key] == (offset, data), f"chunk {key} of a committed episode was rewritten"
    assert len(after) > len(before) and len(episodes_of(path)) == 5


def test_a_torn_last_row_loses_only_the_episode_in_flight(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "s.h5", [3, 4, 5])
    first_two = episodes_of(path)[:2]
    offset = table_chunk(path, 2)
    overwrite(path, offset + 8, b"\x5a" * 8)  # the row's bytes, not its checksum
    state = path.read_bytes()
    assert episodes_of(path) == first_two
    assert path.read_bytes() == state  # reading repairs nothing
    write_store(path, [6], episode_offset=7)  # a writer reopening cuts the torn row off
    with h5py.File(path, "r") as f:
        table = f["episodes"][()]  # and the table reads without recovery again
    assert table["length"].tolist() == [3, 4, 6]
    assert episodes_of(path)[:2] == first_two


def test_damage_before_the_last_row_is_corruption(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "s.h5", [3, 4, 5])
    offset = table_chunk(path, 0)
    overwrite(path, offset, b"\x5a" * 8)
    with pytest.raises(StoreError, match="episode table is corrupt before its last chunk"):
        episodes_of(path)


@pytest.mark.parametrize("extent", ["old", "new"])
def test_a_torn_rewrite_of_a_shared_table_chunk_keeps_every_committed_row(
    tmp_path: Path, write_store, monkeypatch: pytest.MonkeyPatch, extent: str
) -> None:
    """A store whose table keeps 256 rows per chunk, killed while the append of a 4th row
    rewrote the chunk in place: the new row half written, the checksum stale, and the table's
    extent either not yet grown or already grown."""
    monkeypatch.setattr(table_module, "TABLE_CHUNK_ROWS", 256)
    path = write_store(tmp_path / "s.h5", [3, 4, 5])
    committed = episodes_of(path)
    with h5py.File(path, "r+") as f:
        assert f["episodes"].chunks == (256,)
        start = f["frames"].shape[0]
        if extent == "new":
            f["episodes"].resize(4, axis=0)
    row = np.zeros(1, EPISODE_DTYPE)
    row["frame_start"] = row["step_start"] = start
    offset = table_chunk(path, 0)
    overwrite(path, offset + 3 * EPISODE_DTYPE.itemsize, row.tobytes()[:12])
    with h5py.File(path, "r") as f, pytest.raises(OSError, match="filter"):
        f["episodes"][()]  # the damage a plain read meets
    assert episodes_of(path) == committed
    write_store(path, [6, 2], episode_offset=3)
    with h5py.File(path, "r") as f:
        assert f["episodes"]["length"][()].tolist() == [3, 4, 5, 6, 2]
    assert episodes_of(path)[:3] == committed


class RecordingFile(io.FileIO):
    """A file whose every write is recorded as (offset, size): HDF5's fileobj driver issues
    the same write requests its default driver turns into one ``pwrite`` each."""

    writes: list[tuple[int, int]]

    def write(self, data) -> int:  # type: ignore[override]
        self.writes.append((self.tell(), len(memoryview(data))))
        return super().write(data)


def test_an_append_rewrites_no_small_metadata_across_a_page_boundary(
    tmp_path: Path, write_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILL can stop a write only between two memory pages. Every write of an append
    that fits in a page (the chunk indexes and object headers HDF5 rewrites in place) lies
    inside one 4 KiB page of the file, so a killed writer cannot tear committed metadata."""
    path = write_store(tmp_path / "s.h5", [300] * 12)
    with h5py.File(path, "r") as f:
        strategy, _persist, _threshold = f.id.get_create_plist().get_file_space_strategy()
        assert strategy == h5py.h5f.FSPACE_STRATEGY_PAGE
    writes: list[tuple[int, int]] = []
    real_file = h5py.File

    def recording(name, mode="r", **kwargs):
        if Path(name) == path and mode == "r+":
            handle = RecordingFile(path, "r+")
            handle.writes = writes
            return real_file(handle, mode, **kwargs)
        return real_file(name, mode, **kwargs)

    monkeypatch.setattr(h5py, "File", recording)
    write_store(path, [300, 5, 7] * 4, episode_offset=12)
    monkeypatch.undo()
    small = [(offset, size) for offset, size in writes if size <= PAGE]
    assert len(small) > 50  # the appends rewrote indexes and headers many times
    crossing = [(o, s) for o, s in small if o // PAGE != (o + s - 1) // PAGE]
    assert not crossing, f"writes across a page boundary: {crossing[:5]}"
    assert len(episodes_of(path)) == 24
