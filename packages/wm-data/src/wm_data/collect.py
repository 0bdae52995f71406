"""Collection: run a policy in many envs and write each finished episode to a store shard.

``collect`` is the entry point ``wm-collect`` binds with gin. It trains or loads the PPO agent
when the policy needs one, then tops the store up to the target size: an existing store is
checked against the configuration and appended to, so an interrupted collection resumes.
Several worker processes each write their own shard of one store directory.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue as queue_mod
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gin
import numpy as np

from wm_data.envs import DEFAULT_ENV_ID, EnvSpec, action_meanings, ale_of, make_env_from_spec
from wm_data.policies import POLICIES, Policy, make_policy
from wm_data.store import (
    DEFAULT_CHUNK_FRAMES,
    IDENTITY_FIELDS,
    ReplayReader,
    ReplayWriter,
    StoreError,
)
from wm_data.vector import BACKEND_NAMES, make_native_vec_env, native_supported

AGENT_NAME = "ppo_agent.zip"
# Metadata a shard must share with the requested collection before episodes are appended:
# what the data means, plus how it was gathered (a store mixes one policy only).
CHECK_FIELDS = (*IDENTITY_FIELDS, "policy", "epsilon")


def shard_path(out: Path, shard: int) -> Path:
    return out / f"shard-{shard:03d}.h5"


def episode_seed(seed: int, shard: int, episode: int) -> int:
    """Reset seed of one episode, reproducible from (seed, shard, episode number)."""
    return int(np.random.SeedSequence([seed, shard, episode]).generate_state(1)[0] & 0x7FFFFFFF)


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

    ``env_spec`` is the gymnasium spec of an env actually made from ``spec`` (its kwargs are the
    settings used, e.g. the sticky-action probability); the registered spec is a fallback.
    """
    import gymnasium as gym

    env_spec = env_spec or gym.spec(spec.env_id)
    return {
        **spec.as_dict(),
        "obs_shape": list(spec.frame_shape),
        "env_spec": {
            "id": env_spec.id,
            "entry_point": str(env_spec.entry_point),
            "kwargs": {
                k: v for k, v in env_spec.kwargs.items() if isinstance(v, (str, int, float, bool))
            },
        },
        "preprocessing": {
            "resize": "cv2.INTER_AREA",
            "maxpool": False,
            "frame_skip_in_emulator": True,
            "grayscale": spec.grayscale,
            "noop_max": spec.noop_max,
            "terminal_on_life_loss": False,
            "reward_clipping": False,
            "fire_reset": False,
        },
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


class _EpisodeBuffer:
    """Frames, RAM and step columns of the episode in flight (bounded by one episode)."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.ram: list[np.ndarray] = []
        self.actions: list[int] = []
        self.rewards: list[float] = []
        self.terminated: list[bool] = []
        self.truncated: list[bool] = []
        self.seed = -1

    def start(self, frame: np.ndarray, ram: np.ndarray | None, seed: int) -> None:
        self.__init__()
        self.frames.append(frame)
        if ram is not None:
            self.ram.append(ram)
        self.seed = seed

    def add(self, frame, ram, action, reward, terminated, truncated) -> None:
        self.frames.append(frame)
        if ram is not None:
            self.ram.append(ram)
        self.actions.append(int(action))
        self.rewards.append(float(reward))
        self.terminated.append(bool(terminated))
        self.truncated.append(bool(truncated))

    def write(self, writer: ReplayWriter) -> tuple[int, float]:
        writer.add_episode(
            np.stack(self.frames),
            np.asarray(self.actions, np.int64),
            np.asarray(self.rewards, np.float32),
            np.asarray(self.terminated, bool),
            np.asarray(self.truncated, bool),
            ram=np.stack(self.ram) if self.ram else None,
            seed=self.seed,
        )
        return len(self.actions), float(np.sum(self.rewards))


@dataclass
class Target:
    """Stop once the store holds at least ``steps`` steps and ``episodes`` episodes."""

    steps: int | None = None
    episodes: int | None = None

    def reached(self, steps: int, episodes: int) -> bool:
        ok_steps = self.steps is None or steps >= self.steps
        ok_eps = self.episodes is None or episodes >= self.episodes
        return ok_steps and ok_eps


EpisodeCallback = Callable[[int, float], None]


def run_collection(
    writer: ReplayWriter,
    spec: EnvSpec,
    policy: Policy,
    target: Target,
    *,
    num_envs: int = 8,
    seed: int = 0,
    shard: int = 0,
    ram: bool = True,
    backend: str = "gymnasium",
    on_episode: EpisodeCallback | None = None,
    emulator_threads: int = 0,
) -> float:
    """Step ``num_envs`` envs with ``policy`` until ``target``; write episodes as they finish.

    Returns the seconds spent stepping (after the envs were built and reset).
    ``emulator_threads`` sets the native vector env's threads (0: one per core).
    """
    if target.reached(writer.num_steps, writer.num_episodes):
        return 0.0
    if backend == "native":
        return _run_native(
            writer, spec, policy, target, num_envs, seed, shard, on_episode, emulator_threads
        )
    return _run_gym(writer, spec, policy, target, num_envs, seed, shard, ram, on_episode)


def _run_gym(writer, spec, policy, target, num_envs, seed, shard, ram, on_episode) -> float:
    envs = [make_env_from_spec(spec) for _ in range(num_envs)]
    ales = [ale_of(e) for e in envs]
    c = spec.channels
    next_episode = writer.num_episodes
    buffers = [_EpisodeBuffer() for _ in envs]
    obs = np.empty((num_envs, *envs[0].observation_space.shape), np.uint8)

    env_seeds = [episode_seed(seed, shard, next_episode + i) for i in range(num_envs)]

    def reset(i: int, first: bool = False) -> None:
        # Seeding reloads the ROM (~70 ms), so each env is seeded once and its later episodes
        # continue its random stream; the table records the seed of the env that played it.
        o, _ = envs[i].reset(seed=env_seeds[i] if first else None)
        obs[i] = o
        buffers[i].start(o[-c:], ales[i].getRAM() if ram else None, env_seeds[i])

    active = np.zeros(num_envs, bool)

    def accepting() -> bool:
        # Start no new episode once the ones in flight will reach the target: they are all
        # finished and stored, so no emulator step is thrown away.
        in_flight = [len(b.actions) for b, a in zip(buffers, active, strict=True) if a]
        return not target.reached(
            writer.num_steps + sum(in_flight), writer.num_episodes + len(in_flight)
        )

    try:
        for i in range(num_envs):
            if not accepting():
                break
            active[i] = True
            reset(i, first=True)
        t0 = time.perf_counter()
        while active.any():
            idx = np.flatnonzero(active)
            actions = policy.act(obs if len(idx) == num_envs else obs[idx])
            for j, i in enumerate(idx.tolist()):
                o, r, term, trunc, _ = envs[i].step(int(actions[j]))
                buf = buffers[i]
                buf.add(o[-c:], ales[i].getRAM() if ram else None, actions[j], r, term, trunc)
                if term or trunc:
                    active[i] = False
                    length, ret = buf.write(writer)
                    if on_episode:
                        on_episode(length, ret)
                    if accepting():
                        active[i] = True
                        reset(i)
                else:
                    obs[i] = o
        return time.perf_counter() - t0
    finally:
        for env in envs:
            env.close()


def _run_native(
    writer, spec, policy, target, num_envs, seed, shard, on_episode, emulator_threads=0
) -> float:
    # Two half batches in flight: the emulator threads step one while the policy runs on the
    # other (ale-py's async mode returns whichever envs are ready, named in info["env_id"]).
    batch = num_envs // 2 if num_envs >= 4 else num_envs
    venv = make_native_vec_env(spec, num_envs, batch_size=batch, num_threads=emulator_threads)
    raw, to_cf = venv.env, venv.observations
    c = spec.channels
    # Env i is seeded with base + i once; the table records the seed of the env that played it.
    base = episode_seed(seed, shard, writer.num_episodes) % (2**31 - num_envs)
    buffers = [_EpisodeBuffer() for _ in range(num_envs)]
    fresh = np.ones(num_envs, bool)  # the next observation of env i starts an episode
    last_action = np.zeros(num_envs, np.int64)
    try:
        obs, info = raw.reset(seed=base)
        rewards = terms = truncs = np.zeros(len(obs))
        t0 = time.perf_counter()
        while True:
            obs = to_cf(obs)
            ids = info["env_id"]
            for j, i in enumerate(ids.tolist()):
                buf = buffers[i]
                if fresh[i]:  # first frame after a reset (autoreset: the step's action is moot)
                    buf.start(obs[j, -c:], None, base + i)
                    fresh[i] = False
                    continue
                buf.add(obs[j, -c:], None, last_action[i], rewards[j], terms[j], truncs[j])
                if terms[j] or truncs[j]:
                    length, ret = buf.write(writer)
                    if on_episode:
                        on_episode(length, ret)
                    if target.reached(writer.num_steps, writer.num_episodes):
                        return time.perf_counter() - t0
                    fresh[i] = True
            actions = policy.act(obs)
            last_action[ids] = actions
            raw.send(actions)
            obs, rewards, terms, truncs, info = raw.recv()
    finally:
        venv.close()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _single_torch_thread(active: bool) -> Iterator[None]:
    """Small-batch CPU inference runs fastest on one thread; more contend with the emulators."""
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


@dataclass
class CollectResult:
    """What a collection run did. ``seconds`` is wall time including building envs and loading
    the agent; ``loop_seconds`` only the stepping (the steady-state rate)."""

    path: Path
    shards: list[Path]
    episodes: int
    steps: int
    collected_steps: int
    seconds: float
    loop_seconds: float = float("nan")
    agent: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def steps_per_second(self) -> float:
        return self.collected_steps / self.seconds if self.seconds > 0 else float("nan")


def _resolve_backend(backend: str, spec: EnvSpec, ram: bool) -> str:
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


def _split(total: int | None, parts: int, index: int) -> int | None:
    if total is None:
        return None
    return total // parts + (1 if index < total % parts else 0)


def _worker(kwargs: dict[str, Any], queue: Any) -> None:
    try:
        stats: dict[str, float] = {}
        collect_shard(**kwargs, on_episode=lambda n, r: queue.put(("episode", n, r)), stats=stats)
        queue.put(("done", 0, stats.get("loop_seconds", 0.0)))
    except BaseException as exc:
        queue.put(("error", repr(exc), 0.0))
        raise


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
    on_episode: EpisodeCallback | None = None,
    stats: dict[str, float] | None = None,
) -> Path:
    """Fill one shard file up to its target; the process-level unit of collection.

    ``stats`` (if given) receives ``loop_seconds``, the time spent stepping envs.
    """
    backend = _resolve_backend(backend, spec, ram)
    probe = make_env_from_spec(spec)
    num_actions = int(probe.action_space.n)
    meanings = action_meanings(probe)
    made_spec = probe.spec
    probe.close()
    meta = store_metadata(
        spec,
        env_spec=made_spec,
        num_actions=num_actions,
        meanings=meanings,
        policy=policy,
        epsilon=epsilon,
        deterministic=deterministic,
        has_ram=ram,
        seed=seed,
        shard=shard,
        num_shards=num_shards,
        backend=BACKEND_NAMES[backend],
        agent=str(agent_path) if agent_path else None,
    )
    target = Target(target_steps, target_episodes)
    loop_seconds = 0.0
    with ReplayWriter(
        path, meta, overwrite=overwrite, chunk_frames=chunk_frames, check_fields=CHECK_FIELDS
    ) as writer:
        if not target.reached(writer.num_steps, writer.num_episodes):
            model = None
            if policy != "random":
                from wm_data.agent import load_agent

                model = load_agent(agent_path, spec)
            pol = make_policy(
                policy,
                num_actions=num_actions,
                model=model,
                epsilon=epsilon,
                deterministic=deterministic,
                seed=seed * 1000 + shard,
            )
            # A CPU policy gets a core of its own; the emulator threads take the rest.
            cpu_policy = model is not None and str(model.device) == "cpu"
            with _single_torch_thread(model is not None):
                loop_seconds = run_collection(
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
                    emulator_threads=max(1, _cores() - 1) if cpu_policy else 0,
                )
    if stats is not None:
        stats["loop_seconds"] = loop_seconds
    return Path(path)


@gin.configurable("collect", module="wm_data", denylist=["on_episode"])
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
    progress: bool = True,
    on_episode: EpisodeCallback | None = None,
) -> CollectResult:
    """Train or load the agent if needed, then fill store directory ``path`` to the target.

    The store is ``num_workers`` shard files ``path/shard-XXX.h5`` written in parallel; the
    PPO agent lives at ``agent_path`` (default ``path/ppo_agent.zip``) with its training curve.
    A store that already meets the target is only reported.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if target_steps is None and target_episodes is None:
        raise ValueError("set target_steps or target_episodes")
    if num_workers < 1 or num_envs < 1:
        raise ValueError(f"num_workers and num_envs must be >= 1, got {num_workers}, {num_envs}")
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
    out = Path(path)
    if out.suffix in (".h5", ".hdf5"):
        raise ValueError(f"path is a store directory (shards go inside it), got file {out}")
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a store directory")
    shards = [shard_path(out, i) for i in range(num_workers)]
    extra_shards = sorted(set(out.glob("shard-*.h5")) - set(shards)) if out.is_dir() else []
    if extra_shards and not overwrite:
        raise StoreError(
            f"{out}: holds {len(extra_shards) + len(shards)} shard files but num_workers="
            f"{num_workers}; keep num_workers as it was, or overwrite=True"
        )
    t0 = time.perf_counter()
    targets = [
        (_split(target_steps, num_workers, i), _split(target_episodes, num_workers, i))
        for i in range(num_workers)
    ]
    expect = {
        **{k: v for k, v in spec.as_dict().items() if k != "frame_stack"},
        "has_ram": ram,
        "policy": policy,
    }
    done = not overwrite and _satisfied(shards, targets, expect)
    agent = None
    if policy != "random" and not done:
        from wm_data.agent import ensure_agent

        agent = ensure_agent(
            Path(agent_path) if agent_path else out / AGENT_NAME,
            spec,
            total_timesteps=agent_steps,
            seed=seed,
            progress=progress,
        )
    before = _existing_steps(shards) if not overwrite else 0
    common = dict(
        spec=spec,
        policy=policy,
        epsilon=epsilon,
        deterministic=deterministic,
        agent_path=agent,
        num_envs=num_envs,
        ram=ram,
        seed=seed,
        num_shards=num_workers,
        overwrite=overwrite,
        backend=backend,
        chunk_frames=chunk_frames,
    )
    jobs = [
        dict(path=shards[i], shard=i, target_steps=ts, target_episodes=te, **common)
        for i, (ts, te) in enumerate(targets)
    ]
    for extra in extra_shards:
        extra.unlink()
    t1 = time.perf_counter()
    loop_seconds = 0.0
    if not done:
        loop_seconds = _run_jobs(jobs, target_steps, target_episodes, before, progress, on_episode)
    seconds = time.perf_counter() - t1
    with ReplayReader(shards) as reader:
        summary = reader.summary()
    return CollectResult(
        path=out,
        shards=shards,
        episodes=summary["episodes"],
        steps=summary["steps"],
        collected_steps=summary["steps"] - before,
        seconds=seconds if summary["steps"] > before else time.perf_counter() - t0,
        loop_seconds=loop_seconds,
        agent=agent,
        summary=summary,
    )


def _satisfied(
    shards: list[Path], targets: list[tuple[int | None, int | None]], expect: dict[str, Any]
) -> bool:
    """Every shard exists, matches the requested settings and meets its share of the target."""
    if not all(p.exists() for p in shards):
        return False
    for path, (steps, episodes) in zip(shards, targets, strict=True):
        with ReplayReader(path, expect=expect) as reader:
            if not Target(steps, episodes).reached(reader.num_steps, reader.num_episodes):
                return False
    return True


def _existing_steps(shards: list[Path]) -> int:
    present = [p for p in shards if p.exists()]
    if not present:
        return 0
    with ReplayReader(present) as reader:
        return reader.num_steps


def _run_jobs(jobs, target_steps, target_episodes, before, progress, on_episode) -> float:
    """Run the shard jobs (in worker processes when several); returns the longest loop time."""
    from tqdm.auto import tqdm

    total = target_steps if target_steps is not None else None
    bar = tqdm(
        total=total,
        initial=min(before, total) if total else 0,
        unit="step",
        disable=not progress,
        desc="collect",
        dynamic_ncols=True,
    )
    episodes, returns = 0, []

    def record(length: int, ret: float) -> None:
        nonlocal episodes
        episodes += 1
        returns.append(ret)
        bar.update(length if total is None else min(length, max(total - bar.n, 0)))
        bar.set_postfix(episodes=episodes, mean_return=f"{np.mean(returns[-100:]):.1f}")
        if on_episode:
            on_episode(length, ret)

    try:
        if len(jobs) == 1:
            stats: dict[str, float] = {}
            collect_shard(**jobs[0], on_episode=record, stats=stats)
            return stats.get("loop_seconds", 0.0)
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(job, queue), daemon=True) for job in jobs]
        for p in procs:
            p.start()
        running = len(procs)
        loop_seconds = 0.0
        try:
            while running:
                try:
                    kind, a, b = queue.get(timeout=1.0)
                except queue_mod.Empty:
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(
                            f"collector worker exited with code {dead[0].exitcode}"
                        ) from None
                    continue
                if kind == "episode":
                    record(a, b)
                elif kind == "done":
                    running -= 1
                    loop_seconds = max(loop_seconds, b)
                else:
                    raise RuntimeError(f"collector worker failed: {a}")
        finally:
            for p in procs:
                if p.is_alive() and running:
                    p.terminate()
                p.join()
        return loop_seconds
    finally:
        bar.close()
