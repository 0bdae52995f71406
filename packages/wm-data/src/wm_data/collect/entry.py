"""``collect``, the gin entry point ``wm-collect`` binds (selector ``wm_data.collect``).

``on_target`` says what happens to the episodes running when the step target is reached:
``'finish_episodes'`` stores them whole (the store passes its target by up to ``num_envs``
episodes per shard), ``'stop'`` drops them and any episode that would pass the target (the
store stays at or under it; a shard's first episode is kept even when longer). What was
requested, stored and dropped is written to ``path/collection.json``. New shard files compress
frames with ``compression`` (``'lz4'``, ``'zstd'``, ``'gzip'``, ``'lzf'`` or ``'none'``); a
shard being appended to keeps its own filter.
"""

from __future__ import annotations

from pathlib import Path

from wm_core import configurable
from wm_data.collect.loops import EpisodeCallback, Target
from wm_data.collect.settings import check_collect_settings
from wm_data.collect.workers import Collection, CollectResult, fill_store
from wm_data.envs import DEFAULT_ENV_ID, EnvSpec
from wm_data.store import DEFAULT_CHUNK_FRAMES, DEFAULT_COMPRESSION


@configurable("collect", module="wm_data", denylist=["on_episode"])
def collect(
    path: str | Path = "data/assault",
    *,
    env_id: str = DEFAULT_ENV_ID,
    frameskip: int = 4,
    size: int = 64,
    grayscale: bool = True,
    frame_stack: int = 4,
    sticky: float = 0.0,
    full_action_space: bool = False,
    max_episode_steps: int | None = None,
    noop_max: int = 30,
    target_steps: int | None = 50_000,
    target_episodes: int | None = None,
    policy: str = "epsilon",
    epsilon: float = 0.2,
    deterministic: bool = False,
    agent_path: str | Path | None = None,
    agent_steps: int = 100_000,
    num_envs: int = 8,
    num_workers: int = 1,
    ram: bool = True,
    seed: int = 0,
    overwrite: bool = False,
    backend: str = "auto",
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    compression: str = DEFAULT_COMPRESSION,
    on_target: str = "finish_episodes",
    progress: bool = True,
    on_episode: EpisodeCallback | None = None,
) -> CollectResult:
    """Train or load the agent if needed, then fill store directory ``path`` to the target.

    The env settings (``env_id`` to ``noop_max``) are the fields of :class:`EnvSpec`, spelled
    out so gin can bind each one. The store is ``num_workers`` shard files
    ``path/shard-XXX.h5`` written in parallel; the PPO agent lives at ``agent_path`` (default
    ``path/ppo_agent.zip``) with its training curve. A store that already meets the target is
    only reported.
    ``on_target`` and ``compression`` are described in the module docstring. Every setting is
    checked before anything is created (``ConfigError`` naming the gin key).
    """
    check_collect_settings({k: v for k, v in locals().items() if k != "on_episode"})
    spec = EnvSpec(
        env_id=env_id,
        frameskip=frameskip,
        size=size,
        grayscale=grayscale,
        frame_stack=frame_stack,
        sticky=sticky,
        full_action_space=full_action_space,
        max_episode_steps=max_episode_steps,
        noop_max=noop_max,
    )
    how = Collection(
        policy=policy,
        epsilon=epsilon,
        deterministic=deterministic,
        num_envs=num_envs,
        ram=ram,
        seed=seed,
        overwrite=overwrite,
        backend=backend,
        chunk_frames=chunk_frames,
        compression=compression,
        on_target=on_target,
    )
    return fill_store(
        Path(path),
        spec,
        how,
        Target(target_steps, target_episodes),
        num_workers=num_workers,
        agent_path=agent_path,
        agent_steps=agent_steps,
        progress=progress,
        on_episode=on_episode,
    )
