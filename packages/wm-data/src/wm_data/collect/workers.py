"""Orchestration: a store directory of shard files, the target split between them, the PPO agent
trained or reused once for all, worker processes (one per shard) and one progress bar."""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wm_data.collect.loops import EpisodeCallback, Target
from wm_data.collect.record import read_record, shard_entry, write_record
from wm_data.collect.shard import collect_shard
from wm_data.envs import EnvSpec
from wm_data.policies import policy_needs_agent
from wm_data.store import (
    DEFAULT_CHUNK_FRAMES,
    DEFAULT_COMPRESSION,
    STORE_SUFFIXES,
    ReplayReader,
    StoreError,
)

AGENT_NAME = "ppo_agent.zip"


def shard_path(out: Path, shard: int) -> Path:
    return out / f"shard-{shard:03d}.h5"


@dataclass(frozen=True)
class Collection:
    """How a store's episodes are gathered: the same for every shard."""

    policy: str = "epsilon"
    epsilon: float = 0.2
    deterministic: bool = False
    num_envs: int = 8
    ram: bool = True
    seed: int = 0
    overwrite: bool = False
    backend: str = "auto"
    chunk_frames: int = DEFAULT_CHUNK_FRAMES
    compression: str = DEFAULT_COMPRESSION
    on_target: str = "finish_episodes"


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
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def steps_per_second(self) -> float:
        return self.collected_steps / self.seconds if self.seconds > 0 else float("nan")


def _split(total: int | None, parts: int, index: int) -> int | None:
    if total is None:
        return None
    return total // parts + (1 if index < total % parts else 0)


def _shard_files(out: Path, num_workers: int, overwrite: bool) -> tuple[list[Path], list[Path]]:
    """The shard files of ``num_workers`` workers, and any others (removed on overwrite)."""
    if out.suffix in STORE_SUFFIXES:
        raise ValueError(f"path is a store directory (shards go inside it), got file {out}")
    if out.exists() and not out.is_dir():
        raise StoreError(f"{out}: exists and is not a store directory")
    shards = [shard_path(out, i) for i in range(num_workers)]
    extra = sorted(set(out.glob("shard-*.h5")) - set(shards)) if out.is_dir() else []
    if extra and not overwrite:
        raise StoreError(
            f"{out}: holds {len(extra) + len(shards)} shard files but num_workers="
            f"{num_workers}; keep num_workers as it was, or overwrite=True"
        )
    return shards, extra


def _stopped_short(path: Path, target: Target, previous: dict[str, Any] | None) -> bool:
    """A ``stop`` run already ended this shard short of this target and nothing changed since."""
    entry = shard_entry(previous, path.name)
    if not entry.get("stopped_short"):
        return False
    with ReplayReader(path) as reader:
        now = (reader.num_steps, reader.num_episodes)
    return (entry.get("target_steps"), entry.get("target_episodes")) == (
        target.steps,
        target.episodes,
    ) and (entry.get("steps"), entry.get("episodes")) == now


def _satisfied(
    shards: list[Path],
    targets: list[Target],
    expect: dict[str, Any],
    previous: dict[str, Any] | None,
    on_target: str,
) -> list[bool]:
    """Per shard: it exists, matches the requested settings and meets its share of the target
    (or, under ``stop``, ended short of it last time and holds what it held then)."""
    done = []
    for path, target in zip(shards, targets, strict=True):
        if not path.exists():
            done.append(False)
            continue
        with ReplayReader(path, expect=expect) as reader:
            reached = target.reached(reader.num_steps, reader.num_episodes)
        done.append(reached or (on_target == "stop" and _stopped_short(path, target, previous)))
    return done


def _existing_steps(shards: list[Path]) -> int:
    present = [p for p in shards if p.exists()]
    if not present:
        return 0
    with ReplayReader(present) as reader:
        return reader.num_steps


def _jobs(
    shards: list[Path], targets: list[Target], done: list[bool], spec: EnvSpec, how: Collection,
    agent: Path | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One job per shard; a shard that is already done gets a target it meets."""
    return [
        {
            "path": shards[i],
            "spec": spec,
            "shard": i,
            "num_shards": len(shards),
            "agent_path": agent,
            "target_steps": 0 if done[i] else t.steps,
            "target_episodes": 0 if done[i] else t.episodes,
            **asdict(how),
        }
        for i, t in enumerate(targets)
    ]


def fill_store(
    out: Path,
    spec: EnvSpec,
    how: Collection,
    target: Target,
    *,
    num_workers: int = 1,
    agent_path: str | Path | None = None,
    agent_steps: int = 100_000,
    progress: bool = True,
    on_episode: EpisodeCallback | None = None,
) -> CollectResult:
    """Top the store directory ``out`` up to ``target`` with ``num_workers`` shard writers.

    A failed run that stored nothing leaves no empty store folder behind."""
    shards, extra_shards = _shard_files(out, num_workers, how.overwrite)
    fresh_folder = not out.exists()
    try:
        return _fill(out, spec, how, target, shards, extra_shards, agent_path, agent_steps,
                     progress, on_episode)  # fmt: skip
    except BaseException:
        if fresh_folder and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _fill(
    out: Path, spec: EnvSpec, how: Collection, target: Target, shards: list[Path],
    extra_shards: list[Path], agent_path: str | Path | None, agent_steps: int, progress: bool,
    on_episode: EpisodeCallback | None,
) -> CollectResult:  # fmt: skip
    t0 = time.perf_counter()
    n = len(shards)
    targets = [Target(_split(target.steps, n, i), _split(target.episodes, n, i)) for i in range(n)]
    expect = {
        **{k: v for k, v in spec.as_dict().items() if k != "frame_stack"},
        "has_ram": how.ram,
        "policy": how.policy,
    }
    previous = None if how.overwrite else read_record(out)
    done = (
        [False] * n
        if how.overwrite
        else _satisfied(shards, targets, expect, previous, how.on_target)
    )
    agent = None
    if policy_needs_agent(how.policy) and not all(done):
        from wm_data.agent import ensure_agent

        agent = ensure_agent(
            Path(agent_path) if agent_path else out / AGENT_NAME,
            spec,
            total_timesteps=agent_steps,
            seed=how.seed,
            progress=progress,
        )
    before = _existing_steps(shards) if not how.overwrite else 0
    jobs = _jobs(shards, targets, done, spec, how, agent)
    for extra in extra_shards:
        extra.unlink()
    t1 = time.perf_counter()
    stats = [{}] * n if all(done) else run_jobs(jobs, target.steps, before, progress, on_episode)
    seconds = time.perf_counter() - t1
    with ReplayReader(shards) as reader:
        summary = reader.summary()
        shard_of = reader.episodes["shard"]
        held = [
            (int(reader.episodes["length"][shard_of == i].sum()), int((shard_of == i).sum()))
            for i in range(n)
        ]
    record = _write_record(out, target, how, shards, targets, held, stats, previous, before)
    return CollectResult(
        path=out,
        shards=shards,
        episodes=summary["episodes"],
        steps=summary["steps"],
        collected_steps=summary["steps"] - before,
        seconds=seconds if summary["steps"] > before else time.perf_counter() - t0,
        loop_seconds=max(float(st.get("loop_seconds", 0.0)) for st in stats),
        agent=agent,
        summary=summary,
        record=record,
    )


def _write_record(
    out: Path,
    target: Target,
    how: Collection,
    shards: list[Path],
    targets: list[Target],
    held: list[tuple[int, int]],
    stats: list[dict[str, Any]],
    previous: dict[str, Any] | None,
    before: int,
) -> dict[str, Any]:
    """``collection.json``: requested and stored steps per shard, what this run dropped."""
    entries = []
    for path, t, (steps, episodes), st in zip(shards, targets, held, stats, strict=True):
        short = st.get("stopped_short")
        if short is None:  # the shard did not run: it is as it was
            short = bool(shard_entry(previous, path.name).get("stopped_short"))
        entries.append(
            {
                "file": path.name,
                "target_steps": t.steps,
                "target_episodes": t.episodes,
                "steps": steps,
                "episodes": episodes,
                "stopped_short": bool(short),
            }
        )
    requested = {
        "target_steps": target.steps,
        "target_episodes": target.episodes,
        "on_target": how.on_target,
        "num_envs": how.num_envs,
        "num_workers": len(shards),
    }
    run = {
        "collected_steps": sum(h[0] for h in held) - before,
        "discarded_episodes": sum(int(st.get("discarded_episodes", 0)) for st in stats),
        "discarded_steps": sum(int(st.get("discarded_steps", 0)) for st in stats),
    }
    return write_record(out, requested=requested, shards=entries, run=run)


def _worker(index: int, kwargs: dict[str, Any], queue: Any) -> None:
    try:
        stats: dict[str, Any] = {}
        collect_shard(**kwargs, on_episode=lambda n, r: queue.put(("episode", n, r)), stats=stats)
        queue.put(("done", index, stats))
    except BaseException as exc:
        queue.put(("error", repr(exc), 0.0))
        raise


def run_jobs(
    jobs: list[dict[str, Any]],
    total: int | None,
    before: int,
    progress: bool,
    on_episode: EpisodeCallback | None,
) -> list[dict[str, Any]]:
    """Run the shard jobs (in worker processes when several); returns each job's ``stats``
    (``loop_seconds``, and what ``on_target`` dropped)."""
    from tqdm.auto import tqdm

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
            stats: dict[str, Any] = {}
            collect_shard(**jobs[0], on_episode=record, stats=stats)
            return [stats]
        return _run_processes(jobs, record)
    finally:
        bar.close()


def _run_processes(
    jobs: list[dict[str, Any]], record: Callable[[int, float], None]
) -> list[dict[str, Any]]:
    """One spawned process per job, their episodes reported through a queue."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(i, job, queue), daemon=True) for i, job in enumerate(jobs)
    ]
    for p in procs:
        p.start()
    running = len(procs)
    stats: list[dict[str, Any]] = [{} for _ in jobs]
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
                stats[a] = b
            else:
                raise RuntimeError(f"collector worker failed: {a}")
    finally:
        for p in procs:
            if p.is_alive() and running:
                p.terminate()
            p.join()
    return stats
