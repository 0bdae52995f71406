"""Compression filters of a store: a name and level -> h5py dataset options, and the check
that every filter a file uses can be decoded by this Python.

New stores compress frames with LZ4 through ``hdf5plugin``: on 64x64 Assault frames it is a
fifth smaller than gzip-1 and decodes about 5x faster, which is what lets training stream a
store larger than RAM at over half the in-RAM window rate (numbers in ``benchmarks/NOTES.md``).
Zstandard (``compression="zstd"``) makes files about half the size of LZ4 for about a quarter
more decode time; gzip and lzf are built into h5py. The emulator RAM, read by evaluation rather
than streamed, takes Zstandard level 9 whenever the frames take a plugin filter. gzip stores
written before LZ4 became the default read and append as before; a store whose filter this
Python cannot decode (``hdf5plugin`` missing) fails with a :class:`StoreError` that names the
file, the dataset, the filter and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py

from wm_data.store.schema import StoreError

try:  # importing hdf5plugin registers its filters with HDF5
    import hdf5plugin
except ImportError:  # pragma: no cover - exercised by faking its absence in the tests
    hdf5plugin = None

COMPRESSIONS = ("zstd", "lz4", "gzip", "lzf", "none")
DEFAULT_COMPRESSION = "lz4"
# Frames: the level that is fast to write and read. RAM (a few percent of the bytes): denser.
DEFAULT_LEVEL = {"zstd": 3, "gzip": 1}
RAM_FILTER: dict[str, tuple[str, int | None]] = {
    "lz4": ("zstd", 9),
    "zstd": ("zstd", 9),
    "gzip": ("gzip", 9),
    "lzf": ("lzf", None),
    "none": ("none", None),
}
LEVELS = {"zstd": (1, 22), "gzip": (0, 9)}
# HDF5 filter ids of the registered third-party filters hdf5plugin provides.
PLUGIN_FILTERS = {
    32001: "blosc",
    32004: "lz4",
    32008: "bitshuffle",
    32015: "zstd",
    32026: "blosc2",
}
INSTALL_HINT = "pip install hdf5plugin"


def check_compression(compression: str | None, level: int | None = None) -> tuple[str, int | None]:
    """Normalised ``(name, level)``; an unknown name or a level out of range is a ValueError."""
    name = "none" if compression is None else str(compression)
    if name not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    if name not in LEVELS:
        return name, None
    level = DEFAULT_LEVEL[name] if level is None else level
    low, high = LEVELS[name]
    if isinstance(level, bool) or not isinstance(level, int) or not low <= level <= high:
        raise ValueError(f"{name} compression level must be an int in [{low}, {high}]")
    return name, level


def describe(compression: str | None, level: int | None = None) -> str:
    """What the store's ``compression`` attribute records, e.g. ``"zstd:3"`` or ``"lzf"``."""
    name, level = check_compression(compression, level)
    return name if level is None else f"{name}:{level}"


# Every dataset carries HDF5's Fletcher-32 checksum of its stored chunks (after compression, so
# it costs almost nothing): a bit flip on disk is an error on read whatever the filter (Zstd and
# LZ4 frames carry no checksum of their own, gzip's is kept too).
CHECKSUM: dict[str, Any] = {"fletcher32": True}
CHECKSUM_FILTER = 3


def dataset_options(compression: str | None, level: int | None = None) -> dict[str, Any]:
    """Keyword arguments of ``h5py.Group.create_dataset`` for one filter and level."""
    name, level = check_compression(compression, level)
    if name == "none":
        return dict(CHECKSUM)
    if name in ("gzip", "lzf"):
        opts = {"compression_opts": level} if name == "gzip" else {}
        return {"compression": name, **opts, **CHECKSUM}
    if hdf5plugin is None:
        raise StoreError(f"compression {name!r} needs the hdf5plugin package ({INSTALL_HINT})")
    plugin = hdf5plugin.Zstd(clevel=level) if name == "zstd" else hdf5plugin.LZ4()
    return {**dict(plugin), **CHECKSUM}


def ram_options(compression: str | None) -> dict[str, Any]:
    """The RAM dataset's filter for stores whose frames use ``compression`` (denser)."""
    name, _ = check_compression(compression)
    return dataset_options(*RAM_FILTER[name])


def dataset_filters(ds: h5py.Dataset) -> list[tuple[int, str]]:
    """``(HDF5 filter id, name)`` of every filter in a dataset's pipeline."""
    plist = ds.id.get_create_plist()
    out = []
    for i in range(plist.get_nfilters()):
        code, _flags, _values, name = plist.get_filter(i)
        text = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        out.append((int(code), PLUGIN_FILTERS.get(int(code), text or str(code))))
    return out


def _available(code: int) -> bool:
    try:
        return bool(h5py.h5z.filter_avail(code))
    except ValueError:  # not a valid filter id at all
        return False


def check_readable(path: Path, f: h5py.File, names: tuple[str, ...]) -> None:
    """Raise :class:`StoreError` if a filter of datasets ``names`` cannot be decoded here."""
    for key in names:
        if key not in f:
            continue
        for code, label in dataset_filters(f[key]):
            if not _available(code):
                hint = INSTALL_HINT if code in PLUGIN_FILTERS else "install the HDF5 filter"
                raise StoreError(
                    f"{path}: /{key} is compressed with the {label} filter (HDF5 filter {code}), "
                    f"which this Python cannot decode; {hint}"
                )
