"""What a replay store file is: format and version, the datasets and their dtypes, the metadata
fields (how they are written to HDF5 attributes and checked on reopen), and the checks that
tell a valid store from a foreign, newer or truncated file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wm_core import to_plain

FORMAT = "wm-replay"
SCHEMA_VERSION = 1
STORE_SUFFIXES = (".h5", ".hdf5")
DEFAULT_CHUNK_FRAMES = 256
RAM_SIZE = 128
RAM_DTYPE = np.dtype((np.uint8, (RAM_SIZE,)))
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
JSON_ATTR = "json_fields"


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


def plain(value: Any) -> Any:
    """A comparable plain python value of an HDF5 attribute or a metadata value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):  # an array stays a list, even of one element
        value = value.tolist()
    try:
        return to_plain(value, nonfinite="keep")
    except TypeError:  # not a JSON value: compared as it is
        return value


def _values_equal(a: Any, b: Any) -> bool:
    a, b = plain(a), plain(b)
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
            raise StoreMismatchError(path, key, plain(metadata[key]), plain(expected))


def header(
    chunk_frames: int, compression: str | None, compression_opts: int | None
) -> dict[str, Any]:
    """The metadata every new store starts with, before the collector's own fields."""
    from wm_data import __version__
    from wm_data.store.filters import describe  # filters imports StoreError from here

    return {
        "format": FORMAT,
        "version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "package_version": __version__,
        "chunk_frames": chunk_frames,
        "compression": describe(compression, compression_opts),
    }


def write_attrs(f: h5py.File, metadata: Mapping[str, Any]) -> None:
    """Scalars as HDF5 attributes, anything else as JSON text listed in ``json_fields``."""
    json_fields = []
    for key, value in metadata.items():
        value = plain(value)
        if isinstance(value, (bool, int, float, str)):
            f.attrs[key] = value
        else:
            f.attrs[key] = json.dumps(value)
            json_fields.append(key)
    f.attrs[JSON_ATTR] = json.dumps(json_fields)


def read_attrs(f: h5py.File) -> dict[str, Any]:
    json_fields = set(json.loads(f.attrs.get(JSON_ATTR, "[]")))
    out: dict[str, Any] = {}
    for key, value in f.attrs.items():
        if key == JSON_ATTR:
            continue
        value = plain(value)
        out[key] = json.loads(value) if key in json_fields else value
    return out


def create_layout(
    f: h5py.File,
    metadata: Mapping[str, Any],
    chunk_frames: int,
    compression: str | None,
    compression_opts: int | None,
) -> None:
    """Write the header and metadata and create the empty, growable datasets of a new store."""
    from wm_data.store.filters import dataset_options, ram_options
    from wm_data.store.table import create_table

    comp = dataset_options(compression, compression_opts)
    compressed = "compression" in comp
    obs_shape = tuple(int(v) for v in metadata["obs_shape"])
    # The header describes this file: it wins over fields copied from another store.
    write_attrs(f, {**metadata, **header(chunk_frames, compression, compression_opts)})
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
        f.create_dataset(
            "ram",
            shape=(0,),
            maxshape=(None,),
            dtype=RAM_DTYPE,
            chunks=(chunk_frames,),
            shuffle=compressed,
            **ram_options(compression),
        )
    for name, dtype in STEP_COLUMNS.items():
        f.create_dataset(
            name,
            shape=(0,),
            maxshape=(None,),
            dtype=dtype,
            chunks=(chunk_frames,),
            shuffle=compressed and np.dtype(dtype).itemsize > 1,
            **comp,
        )
    create_table(f)


def _check_version(path: Path, f: h5py.File) -> None:
    fmt = plain(f.attrs.get("format"))
    if fmt != FORMAT:
        raise StoreError(f"{path}: not a replay store (attribute format={fmt!r}, want {FORMAT!r})")
    try:
        version = int(plain(f.attrs.get("version")))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{path}: store has no valid schema version") from exc
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {version} is newer than this wm-data reads "
            f"(version {SCHEMA_VERSION}); upgrade wm-data"
        )
    if version < 1:
        raise StoreError(f"{path}: unknown store schema version {version}")


def _check_coverage(path: Path, f: h5py.File, episodes: np.ndarray) -> None:
    """Every row the episode table names is present in every dataset."""
    if not len(episodes):
        return
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


def validate_layout(path: Path, f: h5py.File) -> tuple[dict[str, Any], np.ndarray]:
    """Check format, version and datasets; return metadata and the committed episode table
    (read past a last chunk a killed writer left failing its checksum)."""
    from wm_data.store.table import read_table

    _check_version(path, f)
    try:
        metadata = read_attrs(f)
        for name in ("frames", "episodes", *STEP_COLUMNS):
            if name not in f:
                raise StoreError(f"{path}: store is missing dataset /{name} (corrupt store)")
        episodes = read_table(path, f)
        if metadata.get("has_ram") and "ram" not in f:
            raise StoreError(f"{path}: metadata has_ram=True but /ram is missing (corrupt store)")
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        raise StoreError(f"{path}: replay store is truncated or corrupt ({exc})") from exc
    if episodes.dtype.names != EPISODE_DTYPE.names:
        raise StoreError(f"{path}: /episodes has columns {episodes.dtype.names}, corrupt store")
    _check_coverage(path, f, episodes)
    from wm_data.store.filters import check_readable

    check_readable(path, f, ("frames", "ram", *STEP_COLUMNS))
    return metadata, episodes
