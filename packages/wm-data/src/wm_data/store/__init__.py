"""HDF5 replay store: frames stored once as uint8, an episode table written last.

Layout of one file (a *shard*)::

    /            attrs: format="wm-replay", version, env_id, frameskip, obs_shape, ... (metadata)
    /frames      uint8  [N_frames, C, H, W]   chunked along N (256 frames), Zstandard level 3
    /ram         uint8  [N_frames, 128]       when has_ram (stored as 128-byte elements, shuffled)
    /actions     int64  [N_steps]
    /rewards     float32[N_steps]
    /terminated  bool   [N_steps]
    /truncated   bool   [N_steps]
    /episodes    table  [E]: frame_start, step_start, length, return, seed (a chunk per row)

An episode of L steps owns L+1 frames. Each episode is written whole and the file flushed; the
episode table row goes in last, so rows beyond the table are leftovers of an interrupted write:
readers ignore them and a writer reopening the file trims them. No append rewrites a chunk
that holds a committed episode or table row, and a table row torn by a killed writer costs
only its own episode (:mod:`~wm_data.store.table`).

Stores written before Zstandard became the default are gzip-1 and read as before; the filter a
file uses is in its ``compression`` attribute (:mod:`~wm_data.store.filters`).

The modules: :mod:`~wm_data.store.schema` (format, version, metadata fields and their checks),
:mod:`~wm_data.store.filters` (compression filters and whether this Python can decode them),
:mod:`~wm_data.store.h5file` (opening, the writer lock, SWMR repair),
:mod:`~wm_data.store.table` (the episode table and its recovery after a killed writer),
:mod:`~wm_data.store.writer` and :mod:`~wm_data.store.reader`. Import from here.
"""

from wm_data.store.filters import COMPRESSIONS, DEFAULT_COMPRESSION
from wm_data.store.reader import (
    GLOBAL_EPISODE_DTYPE,
    Episode,
    ReplayReader,
    open_store,
    resolve_paths,
)
from wm_data.store.schema import (
    DEFAULT_CHUNK_FRAMES,
    EPISODE_DTYPE,
    FORMAT,
    IDENTITY_FIELDS,
    RAM_DTYPE,
    RAM_SIZE,
    SCHEMA_VERSION,
    STEP_COLUMNS,
    STORE_SUFFIXES,
    StoreError,
    StoreMismatchError,
    check_metadata,
)
from wm_data.store.writer import ReplayWriter

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_CHUNK_FRAMES",
    "DEFAULT_COMPRESSION",
    "EPISODE_DTYPE",
    "FORMAT",
    "GLOBAL_EPISODE_DTYPE",
    "IDENTITY_FIELDS",
    "RAM_DTYPE",
    "RAM_SIZE",
    "SCHEMA_VERSION",
    "STEP_COLUMNS",
    "STORE_SUFFIXES",
    "Episode",
    "ReplayReader",
    "ReplayWriter",
    "StoreError",
    "StoreMismatchError",
    "check_metadata",
    "open_store",
    "resolve_paths",
]
