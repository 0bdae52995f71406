"""The writer: whole episodes appended to one store file, each flushed before its table row.

A crash loses at most the episode in flight; reopening for append checks the metadata and
trims whatever the episode table does not cover.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wm_core import atomic_write
from wm_data.store.filters import DEFAULT_COMPRESSION, check_compression
from wm_data.store.h5file import file_size_limit, open_h5, take_writer_lock
from wm_data.store.schema import (
    DEFAULT_CHUNK_FRAMES,
    EPISODE_DTYPE,
    IDENTITY_FIELDS,
    RAM_SIZE,
    STEP_COLUMNS,
    StoreError,
    check_metadata,
    create_layout,
    read_attrs,
    validate_layout,
)
from wm_data.store.table import repair_table

#: How a new store file allocates space. Paged: HDF5 places every piece of metadata smaller
#: than a page inside one 4 KiB page, so the metadata an append rewrites in place (the chunk
#: indexes, the object headers) is written by one single-page write, which a killed process
#: completes or never starts; the kernel can stop a write between two pages only. Freed space
#: is not tracked (the threshold), hence never reused, so a crash cannot leave the last flushed
#: metadata pointing at bytes overwritten since.
FILE_SPACE: dict[str, Any] = {
    "fs_strategy": "page",
    "fs_page_size": 4096,
    "fs_persist": False,
    "fs_threshold": 2**40,
}


class ReplayWriter:
    """Append whole episodes to one store file (a shard).

    Every episode starts on a chunk boundary of every dataset, and every row of the episode
    table has a chunk of its own, so writing an episode never rewrites a chunk that holds
    earlier episodes: a process killed mid-write leaves the episodes the table lists intact
    (:mod:`~wm_data.store.table`). (The padding rows are never written and cost almost
    nothing; readers follow ``frame_start``/``step_start``.)

    New files compress with ``compression`` (``"zstd"``, ``"lz4"``, ``"gzip"``, ``"lzf"`` or
    ``"none"``) at level ``compression_opts`` (None: the filter's default), recorded in the
    ``compression`` attribute; appending keeps the file's own filter.

    Opening an existing store appends to it after checking that its metadata agrees with
    ``metadata`` on ``check_fields`` (``StoreMismatchError`` names the first that does not) and
    trimming rows an interrupted write left beyond the episode table. ``overwrite=True``
    replaces the file instead.
    """

    def __init__(
        self,
        path: str | Path,
        metadata: Mapping[str, Any],
        *,
        overwrite: bool = False,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
        compression: str | None = DEFAULT_COMPRESSION,
        compression_opts: int | None = None,
        check_fields: Sequence[str] = IDENTITY_FIELDS,
    ) -> None:
        self.path = Path(path)
        metadata = dict(metadata)
        for key in ("obs_shape", "num_actions"):
            if key not in metadata:
                raise ValueError(f"metadata needs {key!r}")
        obs_shape = tuple(int(v) for v in metadata["obs_shape"])
        if len(obs_shape) != 3:
            raise ValueError(f"metadata obs_shape must be (C, H, W), got {obs_shape}")
        if not 1 <= chunk_frames <= 4096:
            raise ValueError(f"chunk_frames must be in [1, 4096], got {chunk_frames}")
        compression, compression_opts = check_compression(compression, compression_opts)
        metadata.setdefault("has_ram", True)
        self.obs_shape = obs_shape
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = take_writer_lock(self.path)
        if self._lock is None:
            raise StoreError(f"{self.path}: store is open for writing by another process")
        try:
            self._open(
                metadata, overwrite, chunk_frames, compression, compression_opts, check_fields
            )
        except BaseException:
            self._lock.close()
            raise

    def _open(
        self,
        metadata: dict[str, Any],
        overwrite: bool,
        chunk_frames: int,
        compression: str | None,
        compression_opts: int | None,
        check_fields: Sequence[str],
    ) -> None:
        if self.path.exists() and not overwrite:
            self._file = open_h5(self.path, "r+", lock_held=True, libver="latest")
            try:
                stored, episodes = validate_layout(self.path, self._file)
                check_metadata(
                    self.path, stored, {k: metadata[k] for k in check_fields if k in metadata}
                )
            except BaseException:
                self._file.close()
                raise
            self.metadata = stored
            self._trim(episodes)
        else:

            def create(tmp: Path) -> None:
                with h5py.File(tmp, "w", libver="latest", **FILE_SPACE) as f:
                    create_layout(f, metadata, chunk_frames, compression, compression_opts)

            atomic_write(self.path, create, to_path=True)
            self._file = h5py.File(self.path, "r+", libver="latest")
            self.metadata = read_attrs(self._file)
        # Readers may now open the file while episodes are appended (a store of an older
        # format cannot switch: its readers wait until the writer closes it).
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self._file.swmr_mode = True
        self.has_ram = bool(self.metadata.get("has_ram", False))
        self._align = int(self._file["frames"].chunks[0])
        self._episodes = self._file["episodes"]
        self._steps = int(self._episodes["length"].sum()) if self._episodes.shape[0] else 0

    def _trim(self, episodes: np.ndarray) -> None:
        if len(episodes):
            n_frames = int(episodes[-1]["frame_start"] + episodes[-1]["length"] + 1)
            n_steps = int(episodes[-1]["step_start"] + episodes[-1]["length"])
        else:
            n_frames = n_steps = 0
        f = self._file
        repair_table(f, episodes)
        for name in ("frames", "ram"):
            if name in f and f[name].shape[0] != n_frames:
                f[name].resize(n_frames, axis=0)
        for name in STEP_COLUMNS:
            if f[name].shape[0] != n_steps:
                f[name].resize(n_steps, axis=0)
        f.flush()

    @property
    def num_episodes(self) -> int:
        return int(self._episodes.shape[0])

    @property
    def num_steps(self) -> int:
        """Steps in the episodes written so far."""
        return self._steps

    @property
    def num_frames(self) -> int:
        """Frames in the episodes written so far (steps + one per episode)."""
        return self._steps + self.num_episodes

    def _next_start(self, name: str) -> int:
        n = self._file[name].shape[0]
        return -(-n // self._align) * self._align

    def add_episode(
        self,
        frames: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray | None = None,
        truncated: np.ndarray | None = None,
        ram: np.ndarray | None = None,
        seed: int = -1,
    ) -> int:
        """Write one complete episode, flush, then add its table row and flush again."""
        frames = np.asarray(frames)
        length = len(actions)
        if length < 1:
            raise ValueError("an episode needs at least one step")
        if frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {frames.dtype}")
        if frames.shape != (length + 1, *self.obs_shape):
            raise ValueError(
                f"frames must have shape {(length + 1, *self.obs_shape)} for an episode of "
                f"{length} steps, got {frames.shape}"
            )
        columns = {
            "actions": actions,
            "rewards": rewards,
            "terminated": np.zeros(length, bool) if terminated is None else terminated,
            "truncated": np.zeros(length, bool) if truncated is None else truncated,
        }
        for name, values in columns.items():
            if len(values) != length:
                raise ValueError(f"{name} has length {len(values)}, expected {length}")
        if self.has_ram:
            if ram is None:
                raise ValueError("store has_ram=True but no ram was given")
            ram = np.asarray(ram, dtype=np.uint8)
            if ram.shape != (length + 1, RAM_SIZE):
                raise ValueError(f"ram must have shape {(length + 1, RAM_SIZE)}, got {ram.shape}")
        self._check_room(length)
        try:
            return self._write(frames, columns, ram, length, rewards, seed)
        except (OSError, RuntimeError) as exc:
            done = self.num_episodes
            self._abandon()
            cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(
                f"{self.path}: could not write episode {done} ({cause}); is the disk full or a "
                f"file-size limit reached? The {done} episodes already in the store are intact "
                "and a new run resumes after them"
            ) from None

    def _check_room(self, length: int) -> None:
        """Refuse an episode that may not fit on the disk or under the file-size limit
        (``ulimit -f``) before HDF5 writes any of it: a write failing inside HDF5 can leave
        the open file in a state its library cannot even close."""
        chunks = -(-(length + 1) // self._align)
        per_frame = int(np.prod(self.obs_shape)) + (RAM_SIZE if self.has_ram else 0) + 14
        need = int(chunks * self._align * per_frame * 1.01) + 2**16  # whole chunks + metadata
        room = shutil.disk_usage(self.path.parent).free
        limit = file_size_limit()
        if limit is not None:
            room = min(room, limit - self.path.stat().st_size)
        if need > room:
            done = self.num_episodes
            raise StoreError(
                f"{self.path}: could not write episode {done}: it needs up to {need} bytes but "
                f"only {max(room, 0)} can be written (disk full or file-size limit). The {done} "
                "episodes already in the store are intact and a new run resumes after them"
            )

    def _abandon(self) -> None:
        """Close the file after a failed write, quietly: HDF5 may fail to flush it too."""
        with contextlib.suppress(Exception):  # the episode table on disk is what counts
            self._file.close()
        self._lock.close()

    def _write(
        self,
        frames: np.ndarray,
        columns: dict[str, Any],
        ram: np.ndarray | None,
        length: int,
        rewards: Any,
        seed: int,
    ) -> int:
        f = self._file
        f0, s0 = self._next_start("frames"), self._next_start("actions")
        f["frames"].resize(f0 + length + 1, axis=0)
        f["frames"][f0:] = frames
        if self.has_ram:
            f["ram"].resize(f0 + length + 1, axis=0)
            f["ram"][f0:] = ram
        for name, values in columns.items():
            ds = f[name]
            ds.resize(s0 + length, axis=0)
            ds[s0:] = np.asarray(values, dtype=STEP_COLUMNS[name])
        f.flush()
        row = np.zeros(1, EPISODE_DTYPE)
        row["frame_start"], row["step_start"], row["length"] = f0, s0, length
        row["return"] = float(np.sum(np.asarray(rewards, dtype=np.float64)))
        row["seed"] = seed
        e = self._episodes.shape[0]
        self._episodes.resize(e + 1, axis=0)
        self._episodes[e] = row[0]
        f.flush()
        self._steps += length
        return e

    def close(self) -> None:
        try:
            if self._file.id.valid:
                self._file.flush()
                self._file.close()
        finally:
            self._lock.close()

    def __enter__(self) -> ReplayWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
