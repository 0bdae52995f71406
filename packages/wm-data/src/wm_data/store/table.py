"""The episode table: the commit record of a store, and how it survives a killed writer.

A row is the last thing written for an episode, so the table is what a store holds. New
stores give every row its own chunk: appending a row then writes new bytes only and never
rewrites a chunk that holds committed rows. (Stores made before that keep 256 rows per chunk,
and every append rewrote the last chunk in place; a process killed during that write can
leave the chunk failing its checksum although every committed row in it is intact, because
the old and new contents differ only in the row being added.)

Reading the table therefore tolerates a last chunk that fails its checksum: its raw bytes are
read past the checksum and the longest run of rows that continue the table (each episode
starts where the previous one's chunks end, and the datasets cover it) is kept. A failure in
any other chunk is corruption, not an interrupted append, and stays an error.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from wm_data.store.filters import CHECKSUM, CHECKSUM_FILTER, dataset_filters
from wm_data.store.schema import EPISODE_DTYPE, STEP_COLUMNS, StoreError

#: Rows per chunk of a new store's episode table: one, so no append rewrites a committed row.
TABLE_CHUNK_ROWS = 1


def create_table(f: h5py.File) -> h5py.Dataset:
    """The empty, growable episode table of a new store, checksummed row by row."""
    return f.create_dataset(
        "episodes",
        shape=(0,),
        maxshape=(None,),
        dtype=EPISODE_DTYPE,
        chunks=(TABLE_CHUNK_ROWS,),
        **CHECKSUM,
    )


def read_table(path: Path, f: h5py.File) -> np.ndarray:
    """The committed rows of the table (past a last chunk that fails its checksum)."""
    ds = f["episodes"]
    try:
        return ds[()]
    except OSError as exc:
        failure = str(exc)  # not the exception: its traceback would keep the dataset open
    rows_per_chunk = int(ds.chunks[0])
    n = int(ds.shape[0])
    last_start = (n - 1) // rows_per_chunk * rows_per_chunk
    try:
        head = ds[:last_start]
    except OSError:
        raise StoreError(
            f"{path}: the episode table is corrupt before its last chunk ({failure})"
        ) from None
    tail = _raw_rows(path, ds, last_start, n, failure)
    rows = np.concatenate([head, tail])
    keep = len(head) + _continuing(f, head[-1] if len(head) else None, tail)
    return rows[:keep]


def _raw_rows(path: Path, ds: h5py.Dataset, start: int, stop: int, failure: str) -> np.ndarray:
    """Rows ``start:stop`` of one chunk read without its filters (only a checksum allowed)."""
    codes = [code for code, _name in dataset_filters(ds)]
    if codes not in ([], [CHECKSUM_FILTER]):
        raise StoreError(f"{path}: the episode table is corrupt ({failure})")
    try:
        _mask, raw = ds.id.read_direct_chunk((start,))
    except (OSError, ValueError, KeyError):  # the chunk was never written
        return np.zeros(0, EPISODE_DTYPE)
    rows = np.frombuffer(
        raw, EPISODE_DTYPE, count=min(len(raw) // EPISODE_DTYPE.itemsize, int(ds.chunks[0]))
    )
    return rows[: stop - start].copy()


def _continuing(f: h5py.File, previous: np.void | None, rows: np.ndarray) -> int:
    """How many of ``rows`` describe complete episodes that follow ``previous`` in the file."""
    align = int(f["frames"].chunks[0])
    frame_end, step_end = 0, 0
    if previous is not None:
        frame_end = int(previous["frame_start"] + previous["length"] + 1)
        step_end = int(previous["step_start"] + previous["length"])
    n_frames = min(f[name].shape[0] for name in ("frames", "ram") if name in f)
    n_steps = min(f[name].shape[0] for name in STEP_COLUMNS)
    for i, row in enumerate(rows):
        frame_start, step_start, length = (
            int(row[k]) for k in ("frame_start", "step_start", "length")
        )
        expected = (-(-frame_end // align) * align, -(-step_end // align) * align)
        if (frame_start, step_start) != expected or length < 1:
            return i
        frame_end, step_end = frame_start + length + 1, step_start + length
        if frame_end > n_frames or step_end > n_steps or not np.isfinite(row["return"]):
            return i
    return len(rows)


def repair_table(f: h5py.File, rows: np.ndarray) -> None:
    """Make the on-disk table exactly ``rows``, the committed prefix :func:`read_table` found.

    A last chunk that fails its checksum is first written whole and unfiltered (its filter
    mask says so; it gets its checksum back the next time an append rewrites it), because
    HDF5 reads a chunk before any partial write or a cut inside it. Then rows past ``rows``
    are cut off.
    """
    ds = f["episodes"]
    rows_per_chunk = int(ds.chunks[0])
    start = (len(rows) - 1) // rows_per_chunk * rows_per_chunk
    if len(rows) and not _reads(ds, start):
        chunk = np.zeros(rows_per_chunk, EPISODE_DTYPE)
        chunk[: len(rows) - start] = rows[start:]
        skip_all = (1 << len(dataset_filters(ds))) - 1
        ds.id.write_direct_chunk((start,), chunk.tobytes(), filter_mask=skip_all)
        del ds  # an open dataset keeps the chunk's old filter mask: open it afresh
        ds = f["episodes"]
    if ds.shape[0] != len(rows):
        ds.resize(len(rows), axis=0)


def _reads(ds: h5py.Dataset, start: int) -> bool:
    try:
        ds[start : start + int(ds.chunks[0])]
    except OSError:
        return False
    return True
