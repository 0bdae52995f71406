"""The peer project's dataset layout, written for real so its size is measured, not computed.

Benchmark-only reference. The peer collected ``(state, action, reward, next_state, done)``
transitions with ``torch.from_numpy(obs).float()`` frames and saved its dataset with
``torch.save``. Two layouts are written here from the same episodes:

- ``write_transitions``: a float32 state frame and a float32 next_state frame per transition,
  plus an int64 action, a float32 reward and a bool done (its per-transition dataset);
- ``write_frame_per_step``: one float32 frame per step, episodes concatenated, int32 actions,
  float32 rewards and bool episode ends (the layout of its later ``.pth`` files).

Both are stacked tensors, the most compact way ``torch.save`` stores them (a list of
per-transition tensors costs more), so the peer side is measured at its best.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch


def write_transitions(path: Path, episodes: Iterable) -> int:
    """Float32 state and next_state per transition; returns the number of transitions."""
    states, next_states, actions, rewards, dones = [], [], [], [], []
    for ep in episodes:
        frames = torch.from_numpy(ep.frames).float()
        states.append(frames[:-1])
        next_states.append(frames[1:])
        actions.append(torch.from_numpy(ep.actions.astype(np.int64)))
        rewards.append(torch.from_numpy(ep.rewards.astype(np.float32)))
        dones.append(torch.from_numpy(ep.terminated | ep.truncated))
    data = {
        "states": torch.cat(states),
        "next_states": torch.cat(next_states),
        "actions": torch.cat(actions),
        "rewards": torch.cat(rewards),
        "dones": torch.cat(dones),
    }
    torch.save(data, path)
    return len(data["actions"])


def write_frame_per_step(path: Path, episodes: Iterable) -> int:
    """One float32 frame per step (and the episode's last frame); returns transitions."""
    frames, actions, rewards, ends = [], [], [], []
    for ep in episodes:
        frames.append(torch.from_numpy(ep.frames).float())
        actions.append(torch.from_numpy(np.append(ep.actions, -1).astype(np.int32)))
        rewards.append(torch.from_numpy(np.append(ep.rewards, -100.0).astype(np.float32)))
        ends.append(torch.from_numpy(np.append(ep.terminated | ep.truncated, True)))
    data = {
        "states": torch.cat(frames),
        "actions": torch.cat(actions),
        "rewards": torch.cat(rewards),
        "stop_episodes": torch.cat(ends),
    }
    torch.save(data, path)
    return int(sum(len(a) - 1 for a in actions))
