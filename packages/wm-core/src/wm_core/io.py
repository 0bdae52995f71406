"""Atomic file writes and plain JSON values: the two things every package writes to disk.

A crash, a full disk or a kill never leaves a half-written file under the final name: the data
goes to a hidden temporary file beside the target, is flushed, then renamed over it
(``os.replace`` is atomic on POSIX and Windows). On any failure the temporary file is removed
and the previous file, if any, is untouched.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text", "fsync_dir", "temporary_path", "to_plain"]


def temporary_path(path: str | Path) -> Path:
    """A fresh hidden name beside ``path`` (``.<name>.<random>.tmp``), never an existing file."""
    path = Path(path)
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"


def atomic_write(
    path: str | Path,
    write: Callable[[IO[bytes]], None] | Callable[[Path], None] | bytes,
    *,
    to_path: bool = False,
    fsync: bool = True,
) -> Path:
    """Write ``path`` all at once: bytes, a function of an open binary file, or (``to_path``)
    a function that writes a file at the temporary path it is given (h5py, torch.save).

    The file is created with the usual permissions (``0o666`` less the umask), not the private
    mode ``mkstemp`` would give, so run files stay readable by collaborators. With ``fsync``
    the data and the rename are flushed to disk before returning (checkpoints, stores).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        if to_path:
            write(tmp)  # type: ignore[arg-type, call-arg]
        else:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with open(fd, "wb") as handle:
                if isinstance(write, (bytes, bytearray, memoryview)):
                    handle.write(write)
                else:
                    write(handle)  # type: ignore[arg-type]
                handle.flush()
                if fsync:
                    os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)
    return path


def fsync_dir(folder: str | Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False) -> Path:
    """``atomic_write`` for UTF-8 text (run.json, config.gin, reports)."""
    return atomic_write(path, text.encode("utf-8"), fsync=fsync)


def to_plain(
    value: Any,
    *,
    nonfinite: str = "string",
    keep: tuple[type, ...] = (),
    str_keys: bool = True,
) -> Any:
    """A JSON- and ``torch.load(weights_only=True)``-safe copy of ``value``.

    Tuples become lists, numpy scalars and one-element tensors become numbers, larger arrays and
    tensors lists, paths strings, mapping keys strings. ``nonfinite='string'`` writes NaN and
    infinities as ``"nan"``/``"inf"`` (strict JSON has no literal for them); ``'keep'`` leaves
    them as floats (for checkpoint payloads); ``'none'`` writes ``null``. Instances of ``keep``
    (e.g. ``torch.Tensor`` in a checkpoint's training state) are returned as they are.
    ``str_keys=False`` keeps int mapping keys (an optimizer's parameter ids must stay ints for
    ``load_state_dict``); JSON output needs the default.
    """
    if keep and isinstance(value, keep):
        return value
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value) or nonfinite == "keep":
            return float(value)
        return None if nonfinite == "none" else str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {
            (str(k) if str_keys or not isinstance(k, int) else int(k)): to_plain(
                v, nonfinite=nonfinite, keep=keep, str_keys=str_keys
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [to_plain(v, nonfinite=nonfinite, keep=keep, str_keys=str_keys) for v in items]
    item = getattr(value, "item", None)
    size = getattr(value, "size", None)
    numel = value.numel() if hasattr(value, "numel") else size
    if callable(item) and numel == 1:  # numpy scalar, one-element array or tensor
        return to_plain(item(), nonfinite=nonfinite, keep=keep, str_keys=str_keys)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return to_plain(tolist(), nonfinite=nonfinite, keep=keep, str_keys=str_keys)
    raise TypeError(f"{type(value).__name__} ({value!r}) has no plain JSON form")
