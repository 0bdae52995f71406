"""One shard: the store metadata of a collection, the env backend, the policy (with the PPO
agent when it needs one), and the loop that fills one shard file to its target."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wm_data.collect.loops import EpisodeCallback, Target, run_collection
from wm_data.envs import EnvSpec, action_meanings, make_env
from wm_data.policies import make_policy, policy_needs_agent
from wm_data.store import DEFAULT_CHUNK_FRAMES, DEFAULT_COMPRESSION, IDENTITY_FIELDS, ReplayWriter
from wm_data.vector import BACKEND_NAMES, native_supported

# Metadata a shard must share with the requested collection before episodes are appended:
# what the data means, plus how it was gathered (a store mixes one policy only).
CHECK_FIELDS = (*IDENTITY_FIELDS, "policy", "epsilon")


def store_metadata(
    spec: EnvSpec,
    *,
    num_actions: int,
    meanings: list[str],
    policy: str,
    epsilon: float,
    deterministic: bool,
    has_ram: bool,
    seed: int,
    shard: int = 0,
    num_shards: int = 1,
    backend: str = "gymnasium",
    agent: str | None = None,
    extra: dict[str, Any] | None = None,
    env_spec: Any = None,
) -> dict[str, Any]:
    """Everything a reader needs to know about how the data was made.

    The env part is :meth:`EnvSpec.metadata` (``env_spec`` is the gymnasium spec of an env
    actually made from ``spec``), so :meth:`EnvSpec.from_metadata` rebuilds the env.
    """
    return {
        **spec.metadata(made=env_spec),
        "num_actions": int(num_actions),
        "action_meanings": list(meanings),
        "policy": policy,
        "epsilon": float(epsilon) if policy == "epsilon" else (1.0 if policy == "random" else 0.0),
        "deterministic": bool(deterministic),
        "agent": agent or "",
        "has_ram": bool(has_ram),
        "seed": int(seed),
        "shard": int(shard),
        "num_shards": int(num_shards),
        "env_backend": backend,
        **(extra or {}),
    }


@contextlib.contextmanager
def _single_torch_thread(active: bool) -> Iterator[None]:
    """Small-batch CPU inference runs fastest on one thread; more contend with the emulators.

    The emulator threads take every core: the native loop overlaps the policy's forward pass
    on one group of envs with the emulators stepping the other group, and the OS shares the
    cores, so neither waits idle for the other. (A core reserved for a CPU policy capped PPO
    collection at half the bare emulator's rate on 2 cores.)
    """
    if not active:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resolve_backend(backend: str, spec: EnvSpec, ram: bool) -> str:
    """``auto`` takes the native vector env where it reproduces the frames and RAM is not asked."""
    if backend not in ("auto", "native", "gymnasium"):
        raise ValueError(f"backend must be 'auto', 'native' or 'gymnasium', got {backend!r}")
    if backend == "auto":
        return "native" if (not ram and native_supported(spec)) else "gymnasium"
    if backend == "native":
        if ram:
            raise ValueError("backend 'native' exposes no emulator RAM; set ram=False")
        if not native_supported(spec):
            raise ValueError(
                f"backend 'native' cannot reproduce max_episode_steps={spec.max_episode_steps!r}"
            )
    return backend


def _probe(spec: EnvSpec) -> tuple[int, list[str], Any]:
    """Action count, action meanings and gymnasium spec of an env built from ``spec``."""
    env = make_env(spec)
    try:
        return int(env.action_space.n), action_meanings(env), env.spec
    finally:
        env.close()


def _agent_model(policy: str, agent_path: str | Path | None, spec: EnvSpec) -> Any:
    """The PPO model for a policy that acts through it, else None."""
    if not policy_needs_agent(policy):
        return None
    from wm_data.agent import load_agent

    return load_agent(agent_path, spec)


def collect_shard(
    path: str | Path,
    spec: EnvSpec,
    *,
    target_steps: int | None,
    target_episodes: int | None,
    policy: str = "random",
    epsilon: float = 0.2,
    deterministic: bool = False,
    agent_path: str | Path | None = None,
    num_envs: int = 8,
    ram: bool = True,
    seed: int = 0,
    shard: int = 0,
    num_shards: int = 1,
    overwrite: bool = False,
    backend: str = "auto",
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    compression: str = DEFAULT_COMPRESSION,
    on_target: str = "finish_episodes",
    on_episode: EpisodeCallback | None = None,
    stats: dict[str, Any] | None = None,
) -> Path:
    """Fill one shard file up to its target (the process-level unit of collection); ``stats``
    receives ``loop_seconds`` and what ``on_target`` dropped."""
    backend = resolve_backend(backend, spec, ram)
    num_actions, meanings, made = _probe(spec)
    how = {"policy": policy, "epsilon": epsilon, "deterministic": deterministic, "seed": seed}
    meta = store_metadata(
        spec,
        env_spec=made,
        num_actions=num_actions,
        meanings=meanings,
        has_ram=ram,
        shard=shard,
        num_shards=num_shards,
        backend=BACKEND_NAMES[backend],
        agent=str(agent_path) if agent_path else None,
        **how,
    )
    target = Target(target_steps, target_episodes)
    report: dict[str, Any] = {"loop_seconds": 0.0}
    with ReplayWriter(
        path,
        meta,
        overwrite=overwrite,
        chunk_frames=chunk_frames,
        compression=compression,
        check_fields=CHECK_FIELDS,
    ) as writer:
        if not target.reached(writer.num_steps, writer.num_episodes):
            model = _agent_model(policy, agent_path, spec)
            pol = make_policy(
                policy,
                num_actions=num_actions,
                model=model,
                epsilon=epsilon,
                deterministic=deterministic,
                seed=seed * 1000 + shard,
            )
            # emulator_threads=0: the emulators take every core (see _single_torch_thread)
            with _single_torch_thread(model is not None):
                report["loop_seconds"] = run_collection(
                    writer,
                    spec,
                    pol,
                    target,
                    num_envs=num_envs,
                    seed=seed,
                    shard=shard,
                    ram=ram,
                    backend=backend,
                    on_episode=on_episode,
                    emulator_threads=0,
                    on_target=on_target,
                    report=report,
                )
    if stats is not None:
        stats.update(report)
    return Path(path)
