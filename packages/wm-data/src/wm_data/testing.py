"""Tiny real stores for tests of this package and the packages that read its data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wm_data.collect import collect_shard
from wm_data.envs import DEFAULT_ENV_ID, EnvSpec


def make_tiny_store(
    path: str | Path,
    *,
    env_id: EnvSpec | str = DEFAULT_ENV_ID,
    episodes: int = 3,
    max_episode_steps: int = 40,
    size: int = 16,
    seed: int = 0,
    ram: bool = True,
    num_envs: int = 1,
    **settings: Any,
) -> Path:
    """Collect ``episodes`` episodes of a random policy in real ALE into store file ``path``.

    ``env_id`` is an env id or an :class:`EnvSpec`; ``settings`` are further :class:`EnvSpec`
    fields (``frameskip``, ``grayscale``, ``frame_stack``, ...). Episodes end at
    ``max_episode_steps`` steps (or earlier when the game ends); a directory ``path`` gets a
    ``tiny.h5`` inside it. An existing file is replaced. Takes about a second.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "tiny.h5"
    spec = EnvSpec.coerce(env_id, max_episode_steps=max_episode_steps, size=size, **settings)
    return collect_shard(
        path,
        spec,
        target_steps=None,
        target_episodes=episodes,
        policy="random",
        num_envs=num_envs,
        ram=ram,
        seed=seed,
        overwrite=True,
        backend="gymnasium",
    )
