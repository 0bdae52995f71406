"""Data throughput and footprint of wm-data, each figure against a baseline measured in this run.

- collect_random_vs_bare_ale: ``collect`` with the random policy (no RAM, so ale-py's native
  vector env) vs a bare ``ale_py.AtariVectorEnv`` loop with the same preprocessing and random
  actions, writing nothing (>= 0.8). Both sides time the stepping loop after the envs are
  built and reset (ours: ``CollectResult.loop_seconds``, which includes writing the store and
  the steps of episodes still in flight at the end, which are discarded).
- collect_ppo_vs_bare_ale: the same with the PPO policy (SB3 CnnPolicy inference batched across
  envs) vs the same bare loop (>= 0.5).
- collect_ram_vs_bare_gym: default collection (RAM on, so in-process gymnasium envs) vs a bare
  loop over the same ``make_env`` envs reading RAM each step (>= 0.8).
- bytes_vs_raw_uint8: store bytes on disk per transition (frames, RAM, actions, everything)
  vs one raw uint8 frame per transition (<= 1/20).
- peer_float32_vs_ours: bytes per transition as the peer stored them (state and next_state
  float32 frames plus action, reward, done) vs ours (>= 80).
- rss_50k_vs_5k: peak RSS of a collector process collecting 50k vs 5k steps (<= 1.2).
- window_batches_vs_numpy: in-RAM ``WindowDataset.__getitems__`` batches/s vs bare numpy fancy
  indexing of the same frames array (>= 0.8).

    python benchmarks/bench_data.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

from wm_data.collect import collect  # noqa: E402
from wm_data.dataset import WindowDataset  # noqa: E402
from wm_data.envs import EnvSpec, ale_of, make_env_from_spec  # noqa: E402
from wm_data.store import open_store  # noqa: E402
from wm_data.vector import make_native_vec_env  # noqa: E402

SPEC = EnvSpec()  # ALE/Assault-v5, 64x64 grayscale, frameskip 4, stack 4
N_ENVS = 8

RSS_SCRIPT = """
import resource, sys, warnings
warnings.filterwarnings("ignore")
from wm_data.collect import collect
collect(sys.argv[1], target_steps=int(sys.argv[2]), policy="random", progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def ratio(name: str, value: float, op: str, target: float, ours: str, baseline: str) -> None:
    print(
        f"RATIO {name} {value:.4g} {op} {target:.4g} | ours={ours} baseline={baseline}", flush=True
    )


def bare_native(steps: int) -> float:
    """Env-steps/s of ale-py's native vector env alone, same preprocessing, random actions."""
    env = make_native_vec_env(SPEC, N_ENVS)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    n = env.single_action_space.n
    for _ in range(steps // N_ENVS):
        env.step(rng.integers(0, n, N_ENVS))
    env.close()
    return (steps // N_ENVS) * N_ENVS / (time.perf_counter() - t0)


def bare_gym_ram(steps: int) -> float:
    """Env-steps/s of the same ``make_env`` envs stepped in a loop, reading RAM every step."""
    envs = [make_env_from_spec(SPEC) for _ in range(N_ENVS)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    t0 = time.perf_counter()
    ales = [ale_of(env) for env in envs]
    rng = np.random.default_rng(0)
    n = envs[0].action_space.n
    done = 0
    while done < steps:
        actions = rng.integers(0, n, N_ENVS)
        for env, ale, a in zip(envs, ales, actions, strict=True):
            _, _, term, trunc, _ = env.step(int(a))
            ale.getRAM()
            if term or trunc:
                env.reset()
        done += N_ENVS
    return done / (time.perf_counter() - t0)


def ours_collect(path: Path, steps: int, **kwargs) -> tuple[float, Path]:
    res = collect(
        path, target_steps=steps, overwrite=True, progress=False, num_envs=N_ENVS, **kwargs
    )
    return res.collected_steps / res.loop_seconds, path


def best(values: list[float]) -> float:
    return max(values)


def bench_collection(tmp: Path, steps: int, repeats: int) -> Path:
    from wm_data.agent import train_agent

    agent = train_agent(
        tmp / "agent" / "ppo.zip",
        SPEC,
        256,
        hyperparameters={"n_steps": 32, "batch_size": 32, "n_epochs": 1, "n_envs": 2},
    )
    rand, ppo, bare, ram, bare_ram = [], [], [], [], []
    store = tmp / "ram_store"
    for _ in range(repeats):  # interleaved, best of each: the machine is shared
        bare.append(bare_native(steps))
        rand.append(ours_collect(tmp / "rand", steps, policy="random", ram=False)[0])
        ppo.append(ours_collect(tmp / "ppo", steps, policy="ppo", ram=False, agent_path=agent)[0])
        bare_ram.append(bare_gym_ram(steps))
        ram.append(ours_collect(store, steps, policy="random", ram=True)[0])
    b, r, p = best(bare), best(rand), best(ppo)
    ratio("collect_random_vs_bare_ale", r / b, ">=", 0.8, f"{r:.0f} steps/s", f"{b:.0f} steps/s")
    ratio("collect_ppo_vs_bare_ale", p / b, ">=", 0.5, f"{p:.0f} steps/s", f"{b:.0f} steps/s")
    br, rr = best(bare_ram), best(ram)
    ratio("collect_ram_vs_bare_gym", rr / br, ">=", 0.8, f"{rr:.0f} steps/s", f"{br:.0f} steps/s")
    return store


def bench_bytes(store: Path) -> None:
    with open_store(store) as r:
        steps = r.num_steps
        size = r.size_on_disk()
        c, h, w = r.frame_shape
    ours = size / steps
    raw = c * h * w
    ratio("bytes_vs_raw_uint8", ours / raw, "<=", 1 / 20, f"{ours:.1f} B/step", f"{raw} B/step")
    peer = 2 * raw * 4 + 8 + 4 + 1  # state + next_state float32, action int64, reward, done
    ratio("peer_float32_vs_ours", peer / ours, ">=", 80, f"{ours:.1f} B/step", f"{peer} B/step")


def bench_rss(tmp: Path, big: int, small: int) -> None:
    def peak(steps: int) -> int:
        out = subprocess.run(
            [sys.executable, "-c", RSS_SCRIPT, str(tmp / f"rss{steps}"), str(steps)],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(out.stdout.strip().splitlines()[-1]) * 1024

    p_small, p_big = peak(small), peak(big)
    ratio(
        f"rss_{big // 1000}k_vs_{small // 1000}k",
        p_big / p_small,
        "<=",
        1.2,
        f"{p_big / 2**20:.0f} MiB",
        f"{p_small / 2**20:.0f} MiB",
    )


def bench_windows(store: Path, seconds: float) -> None:
    ds = WindowDataset(store, context=4, horizon=1, split="all", in_memory=True)
    frames = ds._frames  # the same in-RAM array both sides index
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, len(ds), 256) for _ in range(64)]
    # Baseline: window starts already at hand, one fancy index of the frames array.
    starts = [np.sort(rng.integers(0, len(frames) - 5, 256)) for _ in range(64)]
    ar = np.arange(5)

    def rate(fn) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            fn(n % 64)
            n += 1
        return n / (time.perf_counter() - t0)

    ours, base = [], []
    for _ in range(3):
        base.append(rate(lambda i: frames[starts[i][:, None] + ar]))
        ours.append(rate(lambda i: ds.__getitems__(batches[i])))
    o, b = best(ours), best(base)
    ratio("window_batches_vs_numpy", o / b, ">=", 0.8, f"{o:.0f} batches/s", f"{b:.0f} batches/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke version")
    args = parser.parse_args()
    steps, repeats = (6000, 1) if args.quick else (40000, 2)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        store = bench_collection(tmp, steps, repeats)
        bench_bytes(store)
        bench_windows(store, 0.5 if args.quick else 2.0)
        if args.quick:
            bench_rss(tmp, 10_000, 1_000)
        else:
            bench_rss(tmp, 50_000, 5_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
