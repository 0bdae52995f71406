from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gin
import numpy as np
import pytest

from wm_data.store import ReplayWriter
from wm_data.testing import make_tiny_store

FRAME_SHAPE = (1, 4, 4)


def synthetic_metadata(**overrides: object) -> dict:
    meta = {
        "env_id": "ALE/Assault-v5",
        "frameskip": 4,
        "size": 4,
        "obs_shape": list(FRAME_SHAPE),
        "grayscale": True,
        "sticky": 0.0,
        "num_actions": 7,
        "action_meanings": ["NOOP"] * 7,
        "policy": "random",
        "has_ram": True,
    }
    meta.update(overrides)
    return meta


def write_synthetic(path: Path, lengths: Sequence[int], episode_offset: int = 0, **meta) -> Path:
    """Episodes whose frames, RAM, actions and rewards encode (episode, time) exactly."""
    with ReplayWriter(path, synthetic_metadata(**meta)) as w:
        for e, length in enumerate(lengths):
            ep = e + episode_offset
            t = np.arange(length + 1)
            frames = np.zeros((length + 1, *FRAME_SHAPE), np.uint8)
            frames[:, 0, 0, 0] = ep
            frames[:, 0, 0, 1] = t % 256
            frames[:, 0, 0, 2] = t // 256
            ram = np.zeros((length + 1, 128), np.uint8)
            ram[:, 0], ram[:, 1] = ep, t % 256
            w.add_episode(
                frames,
                actions=(ep * 1000 + np.arange(length)) % 7,
                rewards=(ep * 1000 + np.arange(length)).astype(np.float32),
                terminated=np.arange(length) == length - 1,
                ram=ram,
                seed=ep,
            )
    return path


@pytest.fixture(autouse=True)
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store from real ALE: 4 episodes of up to 30 steps, 16x16 grayscale."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.h5"
    return make_tiny_store(path, episodes=4, max_episode_steps=30, size=16, seed=0)


@pytest.fixture
def synthetic(tmp_path: Path):
    """Factory writing a synthetic store with the given episode lengths."""

    def make(lengths: Sequence[int], name: str = "syn.h5", **meta) -> Path:
        return write_synthetic(tmp_path / name, lengths, **meta)

    return make


@pytest.fixture
def write_store():
    """``write_store(path, lengths, episode_offset=0, **metadata)`` -> path (synthetic episodes)."""
    return write_synthetic


@pytest.fixture
def store_meta():
    """``store_meta(**overrides)`` -> metadata of the synthetic stores."""
    return synthetic_metadata
