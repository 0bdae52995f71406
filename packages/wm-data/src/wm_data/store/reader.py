"""The reader: one store file or many shards as one table of episodes, opened lazily so a
reader can be handed to DataLoader workers, and readable while a collector still writes."""

from __future__ import annotations

import glob as globmod
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wm_data.store.h5file import open_h5, writer_alive
from wm_data.store.schema import (
    EPISODE_DTYPE,
    IDENTITY_FIELDS,
    STEP_COLUMNS,
    STORE_SUFFIXES,
    StoreError,
    check_metadata,
    validate_layout,
)

#: How often, and how far apart, a layout read beside a live writer is tried again.
LIVE_RETRIES, LIVE_PAUSE_S = 40, 0.05


def read_layout(path: Path) -> tuple[dict[str, Any], np.ndarray]:
    """Metadata and episode table of one store file, validated.

    Beside a live SWMR writer a read can land on a chunk the writer is rewriting (h5py:
    "filter returned failure during read"); the writer's next flush makes the file whole, so
    while the writer lock is held such a read is tried again for up to ~2 s before it is
    reported as a corrupt store. Without a live writer the first failure is the answer.
    """
    for attempt in range(LIVE_RETRIES):
        try:
            with open_h5(path, "r") as f:
                return validate_layout(path, f)
        except StoreError:
            if attempt == LIVE_RETRIES - 1 or not writer_alive(path):
                raise
            time.sleep(LIVE_PAUSE_S)
    raise AssertionError("unreachable")


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
            meta, episodes = read_layout(path)
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
            f = open_h5(self.paths[shard], "r", rdcc_nbytes=self.cache_bytes, rdcc_nslots=10007)
            self._files[shard] = f
        return f

    def read(self, name: str, shard: int, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of dataset ``name`` in one shard."""
        try:
            return self.file(shard)[name][start:stop]
        except (OSError, RuntimeError) as exc:
            raise StoreError(f"{self.paths[shard]}: cannot read /{name}: {exc}") from exc

    def read_into(self, name: str, shard: int, start: int, stop: int, out: np.ndarray) -> None:
        """Rows ``start:stop`` of dataset ``name`` decoded straight into ``out``."""
        try:
            ds = self.file(shard)[name]
            if ds.dtype == out.dtype and ds.shape[1:] == out.shape[1:]:
                ds.read_direct(out, np.s_[start:stop])
            else:  # e.g. /ram: 128-byte elements read as uint8 [n, 128]
                out[...] = ds[start:stop]
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
