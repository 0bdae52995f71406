"""The env loops: step many envs with one batched policy and hand each finished episode to the
store writer. Two loops make the same episodes: in-process gymnasium envs (with emulator RAM)
and ale-py's native vector env (faster, no RAM)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from wm_core import available_cores
from wm_data.envs import EnvSpec, ale_of, make_env
from wm_data.policies import Policy
from wm_data.store import ReplayWriter
from wm_data.vector import make_native_vec_env

EpisodeCallback = Callable[[int, float], None]


def episode_seed(seed: int, shard: int, episode: int) -> int:
    """Reset seed of one episode, reproducible from (seed, shard, episode number)."""
    return int(np.random.SeedSequence([seed, shard, episode]).generate_state(1)[0] & 0x7FFFFFFF)


class EpisodeBuffer:
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

    def add(
        self,
        frame: np.ndarray,
        ram: np.ndarray | None,
        action: int,
        reward: float,
        terminated: bool,
        truncated: bool,
    ) -> None:
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


ON_TARGET = ("finish_episodes", "stop")


class TargetGate:
    """Which episodes a shard starts, stores and drops on its way to ``target``.

    In both modes no episode starts once the stored steps plus those of the episodes in flight
    reach the target. ``finish_episodes`` plays every running episode to its end and stores
    it, so a shard may pass its target by up to ``num_envs`` episodes. ``stop`` ends the shard
    at the first finished episode that would take it past ``target.steps``: that episode and
    every one still running are dropped, so the shard holds at most ``target.steps`` steps,
    except that an empty shard keeps its first episode even when it alone is longer.
    """

    def __init__(self, writer: ReplayWriter, target: Target, on_target: str) -> None:
        if on_target not in ON_TARGET:
            raise ValueError(f"on_target must be one of {ON_TARGET}, got {on_target!r}")
        self.writer, self.target, self.on_target = writer, target, on_target
        self.stopped_short = False
        self.discarded_episodes = self.discarded_steps = 0

    @property
    def done(self) -> bool:
        """``stop`` mode is at its target or refused an episode: drop the running ones."""
        w = self.writer
        return self.on_target == "stop" and (
            self.stopped_short or self.target.reached(w.num_steps, w.num_episodes)
        )

    def may_start(self, in_flight: list[int]) -> bool:
        w = self.writer
        return not self.done and not self.target.reached(
            w.num_steps + sum(in_flight), w.num_episodes + len(in_flight)
        )

    def end_episode(self, buf: EpisodeBuffer, on_episode: EpisodeCallback | None) -> None:
        """Store a finished episode, unless ``stop`` mode finds it passes the target."""
        length, w, limit = len(buf.actions), self.writer, self.target.steps
        too_long = limit is not None and w.num_steps + length > limit
        if self.on_target == "stop" and too_long and w.num_episodes:
            self.stopped_short = True
            self.discard([length])
            return
        length, ret = buf.write(w)
        if on_episode:
            on_episode(length, ret)

    def discard(self, lengths: list[int]) -> None:
        self.discarded_episodes += len(lengths)
        self.discarded_steps += sum(lengths)

    def report(self) -> dict[str, Any]:
        return {
            "stopped_short": self.stopped_short,
            "discarded_episodes": self.discarded_episodes,
            "discarded_steps": self.discarded_steps,
        }


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
    on_target: str = "finish_episodes",
    report: dict[str, Any] | None = None,
) -> float:
    """Step ``num_envs`` envs with ``policy`` until ``target``; write episodes as they finish.

    Returns the seconds spent stepping (after the envs were built and reset). ``on_target``
    says what happens to the episodes running when the target is reached (:class:`TargetGate`);
    ``report`` (if given) receives whether the shard stopped short and what was dropped.
    ``emulator_threads`` sets the native vector env's threads (0: one per core).
    """
    gate = TargetGate(writer, target, on_target)
    seconds = 0.0
    if not target.reached(writer.num_steps, writer.num_episodes):
        if backend == "native":
            seconds = _run_native(
                gate, spec, policy, num_envs, seed, shard, on_episode, emulator_threads
            )
        else:
            seconds = _run_gym(gate, spec, policy, num_envs, seed, shard, ram, on_episode)
    if report is not None:
        report.update(gate.report())
    return seconds


def _run_gym(
    gate: TargetGate,
    spec: EnvSpec,
    policy: Policy,
    num_envs: int,
    seed: int,
    shard: int,
    ram: bool,
    on_episode: EpisodeCallback | None,
) -> float:
    envs = [make_env(spec) for _ in range(num_envs)]
    ales = [ale_of(e) for e in envs]
    c = spec.channels
    next_episode = gate.writer.num_episodes
    buffers = [EpisodeBuffer() for _ in envs]
    obs = np.empty((num_envs, *envs[0].observation_space.shape), np.uint8)

    env_seeds = [episode_seed(seed, shard, next_episode + i) for i in range(num_envs)]

    def reset(i: int, first: bool = False) -> None:
        # Seeding reloads the ROM (~70 ms), so each env is seeded once and its later episodes
        # continue its random stream; the table records the seed of the env that played it.
        o, _ = envs[i].reset(seed=env_seeds[i] if first else None)
        obs[i] = o
        buffers[i].start(o[-c:], ales[i].getRAM() if ram else None, env_seeds[i])

    active = np.zeros(num_envs, bool)

    def in_flight() -> list[int]:
        return [len(buffers[i].actions) for i in np.flatnonzero(active)]

    try:
        for i in range(num_envs):
            if not gate.may_start(in_flight()):
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
                if not (term or trunc):
                    obs[i] = o
                    continue
                active[i] = False
                gate.end_episode(buf, on_episode)
                if gate.done:
                    gate.discard(in_flight())
                    active[:] = False
                    break
                if gate.may_start(in_flight()):
                    active[i] = True
                    reset(i)
        return time.perf_counter() - t0
    finally:
        for env in envs:
            env.close()


def _run_native(
    gate: TargetGate,
    spec: EnvSpec,
    policy: Policy,
    num_envs: int,
    seed: int,
    shard: int,
    on_episode: EpisodeCallback | None,
    emulator_threads: int = 0,
) -> float:
    # Two groups of envs, each its own native vector env, stepped in turn: while the emulator
    # threads step one group, the policy acts on the other's frames. On 2 cores this keeps
    # both busy better than ale-py's async half batches (see benchmarks/NOTES.md).
    sizes = [num_envs // 2, num_envs - num_envs // 2] if num_envs >= 2 else [num_envs]
    offsets = [0, sizes[0]][: len(sizes)]
    threads = max(1, (emulator_threads or available_cores()) // len(sizes))
    groups = [make_native_vec_env(spec, n, num_threads=threads) for n in sizes]
    c = spec.channels
    # Env i is seeded with base + i once; the table records the seed of the env that played it.
    base = episode_seed(seed, shard, gate.writer.num_episodes) % (2**31 - num_envs)
    buffers = [EpisodeBuffer() for _ in range(num_envs)]
    # Plain lists, converted once per batch: the per-env work below is the loop's overhead.
    fresh = [True] * num_envs  # the next observation of env i starts an episode
    active = [False] * num_envs  # env i plays an episode that may be stored
    last_action = [0] * num_envs
    stepping = [False] * len(groups)  # group g has actions sent and its step not received

    def in_flight() -> list[int]:
        return [len(buffers[i].actions) for i in range(num_envs) if active[i]]

    def record(off: int, obs: np.ndarray, rewards: list, terms: list, truncs: list) -> bool:
        """Store group frames; True once the gate ends the shard."""
        for j in range(len(obs)):
            i = off + j
            if fresh[i]:  # first frame after a reset (autoreset: the step's action is moot)
                fresh[i] = False
                active[i] = gate.may_start(in_flight())
                if active[i]:
                    buffers[i].start(obs[j, -c:], None, base + i)
                continue
            fresh[i] = terms[j] or truncs[j]
            if not active[i]:  # an episode begun past the target: played, never stored
                continue
            buffers[i].add(obs[j, -c:], None, last_action[i], rewards[j], terms[j], truncs[j])
            if fresh[i]:
                active[i] = False
                gate.end_episode(buffers[i], on_episode)
                if gate.done:
                    gate.discard(in_flight())
                    return True
        return not any(active) and not gate.may_start([])

    try:
        steps = []
        for venv, off, n in zip(groups, offsets, sizes, strict=True):
            obs, _ = venv.env.reset(seed=base + off)
            steps.append((obs, [0.0] * n, [False] * n, [False] * n))
        t0 = time.perf_counter()
        while True:
            for g, (venv, off) in enumerate(zip(groups, offsets, strict=True)):
                if stepping[g]:
                    obs, rew, term, trunc, _ = venv.env.recv()
                    stepping[g] = False
                    steps[g] = (obs, rew.tolist(), term.tolist(), trunc.tolist())
                obs, rewards, terms, truncs = steps[g]
                obs = venv.observations(obs)
                if record(off, obs, rewards, terms, truncs):
                    return time.perf_counter() - t0
                actions = policy.act(obs)
                last_action[off : off + len(obs)] = actions.tolist()
                venv.env.send(actions)
                stepping[g] = True
    finally:
        for venv, busy in zip(groups, stepping, strict=True):
            if busy:
                venv.env.recv()
            venv.close()
