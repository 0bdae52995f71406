"""Opening store files safely: the writer lock, SWMR access while a collector writes, and the
repair of the "open for write" mark a killed SWMR writer leaves in the superblock (what
``h5clear -s`` does). Every failure to open becomes a :class:`StoreError` that says why."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py

from wm_data.store.schema import StoreError


def open_h5(path: Path, mode: str, *, lock_held: bool = False, **kwargs: Any) -> h5py.File:
    """Open a store file. Reading (``mode="r"``) never creates, changes or locks anything: a
    store a live collector writes is opened in SWMR mode (it shows the episodes flushed so
    far), and so is one whose SWMR writer was killed. A writer (``lock_held``: it holds the
    writer lock) clears the "open for write" mark a killed SWMR writer left, as ``h5clear -s``
    does. Every failure becomes a :class:`StoreError` that says why."""
    if not path.exists():
        raise StoreError(f"{path}: no such replay store")
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a replay store file")
    try:
        if mode == "r":
            return _open_for_reading(path, **kwargs)
        return _open_for_writing(path, mode, lock_held, **kwargs)
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg:
            raise StoreError(f"{path}: replay store is truncated or corrupt ({msg})") from exc
        if "unable to lock" in msg.lower() or "already open for write" in msg:
            raise StoreError(
                f"{path}: store is open for writing by another process, or was left open by a "
                f"killed one and not yet reopened by wm-collect ({msg})"
            ) from exc
        if "signature" in msg:
            raise StoreError(f"{path}: not an HDF5 file, so not a replay store ({msg})") from exc
        raise StoreError(f"{path}: cannot open replay store, truncated or corrupt ({msg})") from exc


_BUSY = ("unable to lock", "already open for write", "truncated file")


def _open_for_reading(path: Path, **kwargs: Any) -> h5py.File:
    """Plain read, else SWMR read when a writer may be at work. A file shorter than its
    superblock says is only SWMR-read while a live writer holds it: SWMR reads of a truly
    truncated file retry for a long time instead of failing."""
    try:
        return h5py.File(path, "r", **kwargs)
    except OSError as exc:
        if not any(b in str(exc).lower() for b in _BUSY):
            raise
        if _shorter_than_recorded(path) and not writer_alive(path):
            raise
        try:
            return h5py.File(path, "r", swmr=True, **kwargs)
        except OSError:
            raise exc from None


def _open_for_writing(path: Path, mode: str, lock_held: bool, **kwargs: Any) -> h5py.File:
    try:
        return h5py.File(path, mode, **kwargs)
    except OSError as exc:
        if not lock_held or "already open for write" not in str(exc):
            raise
        if clear_stale_write_flag(path):  # the lock is ours: the writer that set it is dead
            return h5py.File(path, mode, **kwargs)
        raise


def writer_alive(path: Path) -> bool | None:
    """Whether a live process holds the writer lock of store ``path``, read from
    ``/proc/locks`` so the reader neither creates nor takes the lock (None: cannot tell)."""
    try:
        st = _lock_path(path).stat()
    except OSError:
        return False  # no writer has ever opened the store in this folder
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for line in table.splitlines():
        fields = line.split()
        if "->" in fields or "FLOCK" not in fields:
            continue
        for field in fields:
            parts = field.split(":")
            if len(parts) == 3 and all(parts):
                try:
                    key = (int(parts[0], 16), int(parts[1], 16), int(parts[2]))
                except ValueError:
                    continue
                if key == wanted:
                    return True
    return False


def _shorter_than_recorded(path: Path) -> bool:
    """The file ends before the end-of-file address in its (version 2/3) superblock."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head[:8] != b"\x89HDF\r\n\x1a\n" or len(head) < 12 or head[8] not in (2, 3):
        return False
    size = head[9]
    at = 12 + 2 * size
    if len(head) < at + size:
        return True
    return int.from_bytes(head[at : at + size], "little") > path.stat().st_size


def file_size_limit() -> int | None:
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


def take_writer_lock(path: Path) -> Any:
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


def clear_stale_write_flag(path: Path) -> bool:
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
