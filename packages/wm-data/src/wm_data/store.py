"""HDF5 replay store: frames stored once as uint8, an episode table written last.

Layout of one file (a *shard*)::

    /            attrs: format="wm-replay", version, env_id, frameskip, obs_shape, ... (metadata)
    /frames      uint8  [N_frames, C, H, W]   chunked along N (256 frames), gzip level 1
    /ram         uint8  [N_frames, 128]       when has_ram (stored as 128-byte elements, shuffled)
    /actions     int64  [N_steps]
    /rewards     float32[N_steps]
    /terminated  bool   [N_steps]
    /truncated   bool   [N_steps]
    /episodes    table  [E]: frame_start, step_start, length, return, seed

An episode of L steps owns L+1 frames. Each episode is written whole and the file flushed; the
episode table row goes in last, so rows beyond the table are leftovers of an interrupted write:
readers ignore them and a writer reopening the file trims them.
"""

from __future__ import annotations

import contextlib
import glob as globmod
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT = "wm-replay"
SCHEMA_VERSION = 1
STORE_SUFFIXES = (".h5", ".hdf5")
DEFAULT_CHUNK_FRAMES = 256
RAM_SIZE = 128
RAM_DTYPE = np.dtype((np.uint8, (RAM_SIZE,)))
# RAM is a few percent of the bytes; the top gzip level shrinks it by a fifth at no visible cost.
RAM_GZIP_LEVEL = 9
EPISODE_DTYPE = np.dtype(
    [
        ("frame_start", "<i8"),
        ("step_start", "<i8"),
        ("length", "<i8"),
        ("return", "<f8"),
        ("seed", "<i8"),
    ]
)
STEP_COLUMNS = {
    "actions": np.int64,
    "rewards": np.float32,
    "terminated": np.bool_,
    "truncated": np.bool_,
}
# Metadata fields that define what the data means; appending or reading with different values
# would silently mix incompatible data, so they are checked on every reopen.
IDENTITY_FIELDS = (
    "env_id",
    "frameskip",
    "size",
    "obs_shape",
    "grayscale",
    "sticky",
    "full_action_space",
    "max_episode_steps",
    "noop_max",
    "num_actions",
    "has_ram",
)
_JSON_ATTR = "json_fields"


class StoreError(Exception):
    """A path is not a readable replay store (missing, not a store, corrupt, newer schema)."""


class StoreMismatchError(StoreError):
    """A store's metadata contradicts the configuration it was opened with."""

    def __init__(self, path: str | Path, field: str, actual: Any, expected: Any) -> None:
        self.path = str(path)
        self.field = field
        self.actual = actual
        self.expected = expected
        super().__init__(
            f"{path}: store metadata field {field!r} is {actual!r} but {expected!r} was "
            f"requested; use another path, or overwrite=True to replace the store"
        )


def _package_version() -> str:
    from wm_data import __version__

    return __version__


def _normalise(value: Any) -> Any:
    """Plain comparable python value (tuples and arrays become lists, numpy scalars python)."""
    if isinstance(value, np.ndarray):
        return [_normalise(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


def _values_equal(a: Any, b: Any) -> bool:
    a, b = _normalise(a), _normalise(b)
    if isinstance(a, float) or isinstance(b, float):
        try:
            return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9
        except (TypeError, ValueError):
            return False
    return a == b


def check_metadata(
    path: str | Path, metadata: Mapping[str, Any], expect: Mapping[str, Any]
) -> None:
    """Raise :class:`StoreMismatchError` naming the first field of ``expect`` that differs."""
    for key, expected in expect.items():
        if key not in metadata:
            raise StoreMismatchError(path, key, "<missing>", expected)
        if not _values_equal(metadata[key], expected):
            raise StoreMismatchError(path, key, _normalise(metadata[key]), _normalise(expected))


def _write_attrs(f: h5py.File, metadata: Mapping[str, Any]) -> None:
    json_fields = []
    for key, value in metadata.items():
        value = _normalise(value)
        if isinstance(value, (bool, int, float, str)):
            f.attrs[key] = value
        else:
            f.attrs[key] = json.dumps(value)
            json_fields.append(key)
    f.attrs[_JSON_ATTR] = json.dumps(json_fields)


def _read_attrs(f: h5py.File) -> dict[str, Any]:
    json_fields = set(json.loads(f.attrs.get(_JSON_ATTR, "[]")))
    out: dict[str, Any] = {}
    for key, value in f.attrs.items():
        if key == _JSON_ATTR:
            continue
        value = _normalise(value)
        out[key] = json.loads(value) if key in json_fields else value
    return out


def _open_h5(path: Path, mode: str, *, lock_held: bool = False, **kwargs: Any) -> h5py.File:
    """Open a store file. A reader opens a store a collector is writing in SWMR mode (it sees
    the episodes flushed so far); a writer killed in SWMR mode leaves a stale mark that is
    cleared once no process holds the file, as ``h5clear -s`` does."""
    if not path.exists():
        raise StoreError(f"{path}: no such replay store")
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a replay store file")
    try:
        try:
            return h5py.File(path, mode, **kwargs)
        except OSError as exc:
            msg = str(exc)
            busy = ("unable to lock", "already open for write", "truncated file")
            if not any(b in msg.lower() for b in busy):
                raise
            lock = None if lock_held else _take_writer_lock(path)
            if not lock_held and lock is None:  # a live writer holds the store
                if mode == "r":  # SWMR readers see the episodes it has flushed
                    return h5py.File(path, mode, swmr=True, **kwargs)
                raise
            try:
                if "already open for write" in msg and _clear_stale_write_flag(path):
                    return h5py.File(path, mode, **kwargs)
            finally:
                if lock is not None:
                    lock.close()
            raise
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise StoreError(f"{path}: replay store is truncated or corrupt ({msg})") from exc
        if "unable to lock" in msg.lower() or "already open for write" in msg:
            raise StoreError(
                f"{path}: store is open for writing by another process ({msg})"
            ) from exc
        if "signature" in msg:
            raise StoreError(f"{path}: not an HDF5 file, so not a replay store ({msg})") from exc
        raise StoreError(f"{path}: cannot open replay store, truncated or corrupt ({msg})") from exc


def _file_size_limit() -> int | None:
    """The soft RLIMIT_FSIZE (``ulimit -f``) in bytes, or None when unlimited or unknown."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _lookup3(data: bytes) -> int:
    """Bob Jenkins' lookup3 hash, the checksum HDF5 puts on version 2 and 3 superblocks."""
    mask = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & mask

    length = len(data)
    a = b = c = (0xDEADBEEF + length) & mask
    k = 0
    while length > 12:
        a = (a + int.from_bytes(data[k : k + 4], "little")) & mask
        b = (b + int.from_bytes(data[k + 4 : k + 8], "little")) & mask
        c = (c + int.from_bytes(data[k + 8 : k + 12], "little")) & mask
        a = (a - c) & mask ^ rot(c, 4)
        c = (c + b) & mask
        b = (b - a) & mask ^ rot(a, 6)
        a = (a + c) & mask
        c = (c - b) & mask ^ rot(b, 8)
        b = (b + a) & mask
        a = (a - c) & mask ^ rot(c, 16)
        c = (c + b) & mask
        b = (b - a) & mask ^ rot(a, 19)
        a = (a + c) & mask
        c = (c - b) & mask ^ rot(b, 4)
        b = (b + a) & mask
        k += 12
        length -= 12
    if length == 0:
        return c
    tail = data[k:] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & mask
    b = (b + int.from_bytes(tail[4:8], "little")) & mask
    c = (c + int.from_bytes(tail[8:12], "little")) & mask
    for x, y, r in (
        (2, 1, 14),
        (0, 2, 11),
        (1, 0, 25),
        (2, 1, 16),
        (0, 2, 4),
        (1, 0, 14),
        (2, 1, 24),
    ):
        v = [a, b, c]
        v[x] = ((v[x] ^ v[y]) - rot(v[y], r)) & mask
        a, b, c = v
    return c


def _lock_path(path: Path) -> Path:
    """Hidden, so that globs such as ``data/*`` never pick it up as a shard."""
    return path.with_name(f".{path.name}.lock")


def _take_writer_lock(path: Path) -> Any:
    """Hold ``.<store>.lock`` for as long as a writer has the store open (the kernel drops it
    when the process dies), or None if another live writer holds it. HDF5 releases its own
    file lock in SWMR mode, so this lock is what tells a live writer from a crashed one."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: no stale-writer repair
        return open(os.devnull)
    try:
        handle = open(_lock_path(path), "a")  # noqa: SIM115
    except OSError:  # e.g. a read-only folder: no writer can be running there
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _clear_stale_write_flag(path: Path) -> bool:
    """Clear the superblock's "open for write" flags that a killed SWMR writer left behind
    (the caller holds the writer lock). Returns False when the superblock is not the
    checksummed version 2/3 kind that carries these flags."""
    with open(path, "r+b") as handle:
        head = handle.read(64)
        if head[:8] != b"\x89HDF\r\n\x1a\n" or head[8] not in (2, 3):
            return False
        end = 12 + 4 * head[9]
        if _lookup3(head[:end]) != int.from_bytes(head[end : end + 4], "little"):
            return False
        fixed = head[:11] + b"\x00" + head[12:end]
        handle.seek(0)
        handle.write(fixed + _lookup3(fixed).to_bytes(4, "little"))
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _validate_layout(path: Path, f: h5py.File) -> tuple[dict[str, Any], np.ndarray]:
    """Check format, version and datasets; return metadata and the episode table."""
    fmt = _normalise(f.attrs.get("format"))
    if fmt != FORMAT:
        raise StoreError(f"{path}: not a replay store (attribute format={fmt!r}, want {FORMAT!r})")
    try:
        version = int(_normalise(f.attrs.get("version")))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{path}: store has no valid schema version") from exc
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {version} is newer than this wm-data reads "
            f"(version {SCHEMA_VERSION}); upgrade wm-data"
        )
    if version < 1:
        raise StoreError(f"{path}: unknown store schema version {version}")
    try:
        metadata = _read_attrs(f)
        for name in ("frames", "episodes", *STEP_COLUMNS):
            if name not in f:
                raise StoreError(f"{path}: store is missing dataset /{name} (corrupt store)")
        episodes = f["episodes"][()]
        if metadata.get("has_ram") and "ram" not in f:
            raise StoreError(f"{path}: metadata has_ram=True but /ram is missing (corrupt store)")
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise StoreError(f"{path}: replay store is truncated or corrupt ({exc})") from exc
    if episodes.dtype.names != EPISODE_DTYPE.names:
        raise StoreError(f"{path}: /episodes has columns {episodes.dtype.names}, corrupt store")
    if len(episodes):
        last = episodes[-1]
        frames_needed = int(last["frame_start"] + last["length"] + 1)
        steps_needed = int(last["step_start"] + last["length"])
        if f["frames"].shape[0] < frames_needed:
            raise StoreError(
                f"{path}: truncated store: episode table covers {frames_needed} frames but "
                f"/frames holds {f['frames'].shape[0]}"
            )
        if "ram" in f and f["ram"].shape[0] < frames_needed:
            raise StoreError(f"{path}: truncated store: /ram holds fewer frames than /frames")
        for name in STEP_COLUMNS:
            if f[name].shape[0] < steps_needed:
                raise StoreError(
                    f"{path}: truncated store: episode table covers {steps_needed} steps but "
                    f"/{name} holds {f[name].shape[0]}"
                )
    return metadata, episodes


@dataclass
class Episode:
    """One episode: L steps and the L+1 frames around them."""

    frames: np.ndarray  # uint8 [L+1, C, H, W]
    actions: np.ndarray  # int64 [L]
    rewards: np.ndarray  # float32 [L]
    terminated: np.ndarray  # bool [L]
    truncated: np.ndarray  # bool [L]
    ram: np.ndarray | None  # uint8 [L+1, 128]
    seed: int = -1

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def total_return(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))


class ReplayWriter:
    """Append whole episodes to one store file (a shard).

    Every episode starts on a chunk boundary of every dataset, so writing an episode never
    rewrites a compressed chunk that holds earlier episodes: a process killed mid-write leaves
    the episodes the table lists intact. (The padding rows are never written and cost almost
    nothing; readers follow ``frame_start``/``step_start``.)

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
        compression: str | None = "gzip",
        compression_opts: int | None = 1,
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
        metadata.setdefault("has_ram", True)
        self.obs_shape = obs_shape
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _take_writer_lock(self.path)
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
            self._file = _open_h5(self.path, "r+", lock_held=True, libver="latest")
            try:
                stored, episodes = _validate_layout(self.path, self._file)
                check_metadata(
                    self.path, stored, {k: metadata[k] for k in check_fields if k in metadata}
                )
            except BaseException:
                self._file.close()
                raise
            self.metadata = stored
            self._trim(episodes)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            # Freed file space is never reused, so a crash cannot leave the last flushed
            # metadata pointing at bytes overwritten since.
            f = h5py.File(tmp, "w", libver="latest", fs_strategy="aggregate")
            try:
                self._create(f, metadata, chunk_frames, compression, compression_opts)
            finally:
                f.close()
            os.replace(tmp, self.path)
            self._file = h5py.File(self.path, "r+", libver="latest")
            self.metadata = _read_attrs(self._file)
        # Readers may now open the file while episodes are appended (a store of an older
        # format cannot switch: its readers wait until the writer closes it).
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self._file.swmr_mode = True
        self.has_ram = bool(self.metadata.get("has_ram", False))
        self._align = int(self._file["frames"].chunks[0])
        self._episodes = self._file["episodes"]
        self._steps = int(self._episodes["length"].sum()) if self._episodes.shape[0] else 0

    @staticmethod
    def _create(
        f: h5py.File,
        metadata: dict[str, Any],
        chunk_frames: int,
        compression: str | None,
        compression_opts: int | None,
    ) -> None:
        comp: dict[str, Any] = {"compression": compression}
        if compression == "gzip":
            comp["compression_opts"] = compression_opts
        obs_shape = tuple(int(v) for v in metadata["obs_shape"])
        metadata = {
            "format": FORMAT,
            "version": SCHEMA_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "package_version": _package_version(),
            "chunk_frames": chunk_frames,
            "compression": f"{compression}:{compression_opts}" if compression else "none",
            **metadata,
        }
        _write_attrs(f, metadata)
        f.create_dataset(
            "frames",
            shape=(0, *obs_shape),
            maxshape=(None, *obs_shape),
            dtype=np.uint8,
            chunks=(chunk_frames, *obs_shape),
            **comp,
        )
        if metadata["has_ram"]:
            # One 128-byte element per frame with the shuffle filter: each RAM byte is then
            # compressed along time (~16 bytes per frame instead of ~40 row by row). Reads
            # return uint8 [n, 128].
            ram_comp = dict(comp)
            if compression == "gzip":
                ram_comp["compression_opts"] = RAM_GZIP_LEVEL
            f.create_dataset(
                "ram",
                shape=(0,),
                maxshape=(None,),
                dtype=RAM_DTYPE,
                chunks=(chunk_frames,),
                shuffle=compression is not None,
                **ram_comp,
            )
        for name, dtype in STEP_COLUMNS.items():
            f.create_dataset(
                name,
                shape=(0,),
                maxshape=(None,),
                dtype=dtype,
                chunks=(chunk_frames,),
                shuffle=compression is not None and np.dtype(dtype).itemsize > 1,
                **comp,
            )
        f.create_dataset(
            "episodes", shape=(0,), maxshape=(None,), dtype=EPISODE_DTYPE, chunks=(256,)
        )

    def _trim(self, episodes: np.ndarray) -> None:
        if len(episodes):
            n_frames = int(episodes[-1]["frame_start"] + episodes[-1]["length"] + 1)
            n_steps = int(episodes[-1]["step_start"] + episodes[-1]["length"])
        else:
            n_frames = n_steps = 0
        f = self._file
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
        limit = _file_size_limit()
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

    def _write(self, frames, columns, ram, length: int, rewards, seed: int) -> int:
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


def resolve_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """A file, a directory (its ``*.h5`` files), a glob, or a list of those -> sorted files."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not items:
        raise StoreError("no store paths given")
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix in STORE_SUFFIXES)
            if not found:
                raise StoreError(f"{p}: directory holds no *.h5 replay store files")
            out.extend(found)
        elif p.exists():
            out.append(p)
        elif globmod.has_magic(str(item)):
            found = sorted(Path(q) for q in globmod.glob(str(item)))
            if not found:
                raise StoreError(f"{item}: glob matches no replay store files")
            out.extend(found)
        else:
            raise StoreError(f"{p}: no such replay store")
    return out


class ReplayReader:
    """Read one store or several shards as one dataset of episodes.

    ``expect`` maps metadata fields to required values (e.g. ``{"env_id": ..., "frameskip": 4}``);
    a difference raises :class:`StoreMismatchError` naming the field. Shards must agree on every
    identity field. Files are opened lazily and closed for pickling, so a reader can be handed
    to DataLoader workers.
    """

    def __init__(
        self,
        paths: str | Path | Sequence[str | Path],
        expect: Mapping[str, Any] | None = None,
        *,
        cache_bytes: int = 32 * 2**20,
    ) -> None:
        self.paths = resolve_paths(paths)
        self.cache_bytes = int(cache_bytes)
        self._files: dict[int, h5py.File] = {}
        tables = []
        self.shard_metadata: list[dict[str, Any]] = []
        for i, path in enumerate(self.paths):
            with _open_h5(path, "r") as f:
                meta, episodes = _validate_layout(path, f)
            if expect:
                check_metadata(path, meta, expect)
            if self.shard_metadata:
                first = self.shard_metadata[0]
                check_metadata(
                    path, meta, {k: first[k] for k in IDENTITY_FIELDS if k in first and k in meta}
                )
            self.shard_metadata.append(meta)
            tables.append((i, episodes))
        self.metadata: dict[str, Any] = dict(self.shard_metadata[0])
        if len(self.paths) > 1:
            self.metadata["shards"] = [str(p) for p in self.paths]
        self.episodes = _global_table(tables)

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def num_steps(self) -> int:
        return int(self.episodes["length"].sum())

    @property
    def num_frames(self) -> int:
        return int((self.episodes["length"] + 1).sum())

    @property
    def has_ram(self) -> bool:
        return bool(self.metadata.get("has_ram", False))

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.metadata["obs_shape"])  # type: ignore[return-value]

    @property
    def num_actions(self) -> int:
        return int(self.metadata["num_actions"])

    def file(self, shard: int) -> h5py.File:
        f = self._files.get(shard)
        if f is None or not f.id.valid:
            f = _open_h5(self.paths[shard], "r", rdcc_nbytes=self.cache_bytes, rdcc_nslots=10007)
            self._files[shard] = f
        return f

    def read(self, name: str, shard: int, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of dataset ``name`` in one shard."""
        try:
            return self.file(shard)[name][start:stop]
        except (OSError, RuntimeError) as exc:
            raise StoreError(f"{self.paths[shard]}: cannot read /{name}: {exc}") from exc

    def episode(self, index: int) -> Episode:
        if not -self.num_episodes <= index < self.num_episodes:
            raise IndexError(f"episode {index} out of range ({self.num_episodes} episodes)")
        row = self.episodes[index]
        shard, length = int(row["shard"]), int(row["length"])
        f0, s0 = int(row["frame_start"]), int(row["step_start"])
        steps = {n: self.read(n, shard, s0, s0 + length) for n in STEP_COLUMNS}
        return Episode(
            frames=self.read("frames", shard, f0, f0 + length + 1),
            ram=self.read("ram", shard, f0, f0 + length + 1) if self.has_ram else None,
            seed=int(row["seed"]),
            **steps,
        )

    def __len__(self) -> int:
        return self.num_episodes

    def __iter__(self) -> Iterator[Episode]:
        for i in range(self.num_episodes):
            yield self.episode(i)

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.paths)

    def summary(self) -> dict[str, Any]:
        """Numbers ``wm-data info`` prints."""
        returns = self.episodes["return"]
        lengths = self.episodes["length"]
        size = self.size_on_disk()
        steps = self.num_steps
        return {
            "paths": [str(p) for p in self.paths],
            "episodes": self.num_episodes,
            "steps": steps,
            "frames": self.num_frames,
            "return_mean": float(returns.mean()) if len(returns) else float("nan"),
            "return_std": float(returns.std()) if len(returns) else float("nan"),
            "return_min": float(returns.min()) if len(returns) else float("nan"),
            "return_max": float(returns.max()) if len(returns) else float("nan"),
            "length_mean": float(lengths.mean()) if len(lengths) else float("nan"),
            "size_bytes": size,
            "bytes_per_transition": size / steps if steps else float("nan"),
        }

    def close(self) -> None:
        for f in self._files.values():
            if f.id.valid:
                f.close()
        self._files.clear()

    def __enter__(self) -> ReplayReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = {}
        return state


GLOBAL_EPISODE_DTYPE = np.dtype([*EPISODE_DTYPE.descr, ("shard", "<i8"), ("index", "<i8")])


def _global_table(tables: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """Concatenate per-shard episode tables, adding shard and within-shard index columns."""
    parts = []
    for shard, table in tables:
        part = np.zeros(len(table), GLOBAL_EPISODE_DTYPE)
        for name in EPISODE_DTYPE.names:
            part[name] = table[name]
        part["shard"] = shard
        part["index"] = np.arange(len(table))
        parts.append(part)
    return np.concatenate(parts) if parts else np.zeros(0, GLOBAL_EPISODE_DTYPE)


def open_store(
    paths: str | Path | Sequence[str | Path], expect: Mapping[str, Any] | None = None
) -> ReplayReader:
    """Open one store file, a list of shards, a directory or a glob for reading."""
    return ReplayReader(paths, expect=expect)
