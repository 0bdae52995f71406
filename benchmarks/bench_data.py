"""Data throughput and footprint of wm-data; both sides of every ratio are measured in this run.

In each ``RATIO`` line ``ours`` is wm-data and ``baseline`` the reference named here. Timed
figures are medians over the same number of repeats, taken in back-to-back pairs (the machine
is shared); the ratio is the median of the per-pair ratios and the pair shown is the median one.

- collect_random_vs_bare_ale: ours = ``collect`` with the random policy (no RAM, so ale-py's
  native vector env); baseline = a bare ``ale_py.AtariVectorEnv`` loop with the same
  preprocessing and random actions, writing nothing (>= 0.8). Both time the stepping loop after
  the envs are built and reset (ours: ``CollectResult.loop_seconds``, which includes writing the
  store and the steps of episodes still in flight at the end, which are discarded).
- collect_ppo_vs_bare_ale: ours = the same with the PPO policy (SB3 CnnPolicy, acting on one
  group of half the envs while the emulators step the other group); baseline = the same bare
  loop (>= 0.6).
- collect_ram_vs_bare_gym: ours = default collection (RAM on, so in-process gymnasium envs);
  baseline = a bare loop over the same ``make_env`` envs reading RAM each step (>= 0.8).
- bytes_vs_raw_uint8: ours = store bytes on disk per transition (default settings; frames, RAM,
  actions, everything); baseline = one raw uint8 frame per transition (<= 1/20).
- peer_float32_vs_ours: baseline = the peer's layout (``peer_storage.write_transitions``: float32
  state and next_state frames per transition, action, reward, done) written with ``torch.save``
  to a real file; ours = the same episodes written to a real store with the default settings
  (>= 80). A ``NOTE`` line gives the peer's later one-float32-frame-per-step layout too.
- rss_50k_vs_5k: peak RSS of a collector process collecting 50k vs 5k steps (<= 1.2).
- window_batches_vs_numpy: ours = in-RAM ``WindowDataset.__getitems__`` batches/s; baseline =
  bare numpy fancy indexing of the same frames array with window starts at hand (>= 0.8).
- streaming_vs_in_ram: ours = windows/s of the train split streamed from the store written
  above with the default settings (``in_memory=False``), through the loader wm-train builds
  (batch 128, a shuffling ``DistributedSampler``, so block groups); baseline = the same loader
  over the same split held in RAM (fully random windows) (>= 0.5). The stream's block cache is
  a quarter of the split, so every epoch decodes every block again, as for a store larger than
  RAM; both sides are timed over epochs after a warm-up one.

``FILTER`` lines follow: bytes per frame and single-thread decode speed of the same frames
written with each compression filter (chunks of 256 frames, Fletcher-32 on).

    python benchmarks/bench_data.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from peer_storage import write_frame_per_step, write_transitions  # noqa: E402
from torch.utils.data.distributed import DistributedSampler  # noqa: E402

from wm_data.collect import collect  # noqa: E402
from wm_data.dataset import WindowDataset, make_loader  # noqa: E402
from wm_data.envs import EnvSpec, ale_of, make_env_from_spec  # noqa: E402
from wm_data.store import ReplayWriter, open_store  # noqa: E402
from wm_data.store.filters import dataset_options, describe  # noqa: E402
from wm_data.vector import make_native_vec_env  # noqa: E402

SPEC = EnvSpec()  # ALE/Assault-v5, 64x64 grayscale, frameskip 4, stack 4
N_ENVS = 8
TRAIN_BATCH = 128  # wm-train's default batch size

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


def paired(pairs: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median of per-pair ratios ours/baseline, and the pair whose ratio is that median."""
    r = statistics.median(o / b for o, b in pairs)
    o, b = min(pairs, key=lambda p: abs(p[0] / p[1] - r))
    return r, o, b


def bare_native(steps: int, envs: int = N_ENVS) -> float:
    """Env-steps/s of ale-py's native vector env alone, same preprocessing, random actions."""
    env = make_native_vec_env(SPEC, envs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    n = env.single_action_space.n
    for _ in range(steps // envs):
        env.step(rng.integers(0, n, envs))
    env.close()
    return (steps // envs) * envs / (time.perf_counter() - t0)


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


def ours_collect(path: Path, steps: int, envs: int = N_ENVS, **kwargs) -> float:
    res = collect(path, target_steps=steps, overwrite=True, progress=False, num_envs=envs, **kwargs)
    return res.collected_steps / res.loop_seconds


def bench_collection(tmp: Path, steps: int, repeats: int) -> Path:
    from wm_data.agent import train_agent

    agent = train_agent(
        tmp / "agent" / "ppo.zip",
        SPEC,
        256,
        hyperparameters={"n_steps": 32, "batch_size": 32, "n_epochs": 1, "n_envs": 2},
    )
    rand, ppo, ram = [], [], []
    store = tmp / "ram_store"
    for _ in range(repeats):  # interleaved pairs: the machine is shared
        rand.append(
            (ours_collect(tmp / "rand", steps, policy="random", ram=False), bare_native(steps))
        )
        ppo.append(
            (
                ours_collect(tmp / "ppo", steps, policy="ppo", ram=False, agent_path=agent),
                bare_native(steps),
            )
        )
        ram.append((ours_collect(store, steps, policy="random", ram=True), bare_gym_ram(steps)))
    for name, pairs, target in (
        ("collect_random_vs_bare_ale", rand, 0.8),
        ("collect_ppo_vs_bare_ale", ppo, 0.6),
        ("collect_ram_vs_bare_gym", ram, 0.8),
    ):
        r, o, b = paired(pairs)
        ratio(name, r, ">=", target, f"{o:.0f} steps/s", f"{b:.0f} steps/s")
    return store


def bench_bytes(store: Path, tmp: Path, peer_steps: int) -> None:
    with open_store(store) as r:
        ours = r.size_on_disk() / r.num_steps
        raw = int(np.prod(r.frame_shape))
        episodes, n = [], 0
        for ep in r:  # the same episodes for ours and the peer's layouts
            episodes.append(ep)
            n += len(ep)
            if n >= peer_steps:
                break
        meta = r.metadata
    ratio("bytes_vs_raw_uint8", ours / raw, "<=", 1 / 20, f"{ours:.1f} B/step", f"{raw} B/step")
    subset = tmp / "subset.h5"
    with ReplayWriter(subset, meta) as w:
        for ep in episodes:
            w.add_episode(ep.frames, ep.actions, ep.rewards, ep.terminated, ep.truncated, ep.ram)
    ours_subset = subset.stat().st_size / n
    pth = tmp / "peer.pth"
    peer_steps = write_transitions(pth, episodes)
    peer = pth.stat().st_size / peer_steps
    ratio(
        "peer_float32_vs_ours",
        peer / ours_subset,
        ">=",
        80,
        f"{ours_subset:.1f} B/step (store file, {n} steps)",
        f"{peer:.0f} B/step (torch.save file of the same steps)",
    )
    single = tmp / "peer_frames.pth"
    single_steps = write_frame_per_step(single, episodes)
    per_step = single.stat().st_size / single_steps
    print(
        f"NOTE peer_frame_per_step_vs_ours {per_step / ours_subset:.4g} | "
        f"peer's later layout {per_step:.0f} B/step vs ours {ours_subset:.1f} B/step",
        flush=True,
    )


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


def rate(fn: Callable[[int], object], seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(n % 64)
        n += 1
    return n / (time.perf_counter() - t0)


def bench_windows(store: Path, seconds: float, repeats: int) -> None:
    ds = WindowDataset(store, context=4, horizon=1, split="all", in_memory=True)
    frames = ds._frames  # the same in-RAM array both sides index
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, len(ds), 256) for _ in range(64)]
    # Baseline: window starts already at hand, one fancy index of the frames array.
    starts = [np.sort(rng.integers(0, len(frames) - 5, 256)) for _ in range(64)]
    ar = np.arange(5)
    pairs = [
        (
            rate(lambda i: ds.__getitems__(batches[i]), seconds),
            rate(lambda i: frames[starts[i][:, None] + ar], seconds),
        )
        for _ in range(repeats)
    ]
    r, o, b = paired(pairs)
    ratio("window_batches_vs_numpy", r, ">=", 0.8, f"{o:.0f} batches/s", f"{b:.0f} batches/s")


def epoch_rates(ds: WindowDataset, epochs: int) -> list[float]:
    """Windows/s of the loader wm-train builds, per epoch after a warm-up epoch."""
    sampler = DistributedSampler(ds, 1, 0, shuffle=True, seed=0)
    loader = make_loader(ds, TRAIN_BATCH, shuffle=False, sampler=sampler)
    out = []
    for epoch in range(epochs + 1):
        sampler.set_epoch(epoch)
        t0, n = time.perf_counter(), 0
        for batch in loader:
            n += len(batch["index"])
        if epoch:
            out.append(n / (time.perf_counter() - t0))
    return out


def bench_streaming(store: Path, epochs: int, repeats: int) -> None:
    kw = dict(context=4, horizon=1, split="train")
    mem = WindowDataset(store, in_memory=True, **kw)
    split_bytes = int(mem._frames.nbytes)
    pairs, loaded = [], []
    for _ in range(repeats):
        stream = WindowDataset(
            store, in_memory=False, stream_cache_bytes=max(1, split_bytes // 4), **kw
        )
        ours = epoch_rates(stream, epochs)
        base = epoch_rates(mem, epochs)
        pairs += list(zip(ours, base, strict=True))
        loaded.append(stream.stream_cache.loaded / (epochs + 1) / stream.blocks.num_blocks)
    r, o, b = paired(pairs)
    ratio(
        "streaming_vs_in_ram",
        r,
        ">=",
        0.5,
        f"{o:.0f} windows/s (blocks decoded {statistics.median(loaded):.2f}x per epoch)",
        f"{b:.0f} windows/s",
    )


def bench_filters(store: Path, repeats: int) -> None:
    """Bytes per frame and decode speed of the store's frames under each filter."""
    with open_store(store) as r:
        frames = np.concatenate([ep.frames for ep in r])
    tmp = store.parent / "filters"
    tmp.mkdir(exist_ok=True)
    for name, level in (("gzip", 1), ("lzf", None), ("lz4", None), ("zstd", 1), ("zstd", 3)):
        path = tmp / f"{name}{level}.h5"
        with h5py.File(path, "w") as f:
            t0 = time.process_time()
            f.create_dataset(
                "frames",
                data=frames,
                chunks=(256, *frames.shape[1:]),
                **dataset_options(name, level),
            )
            encode = time.process_time() - t0
        out = np.empty_like(frames)
        decode = []
        with h5py.File(path, "r", rdcc_nbytes=0) as f:
            for _ in range(repeats):
                t0 = time.process_time()
                f["frames"].read_direct(out)
                decode.append(time.process_time() - t0)
        mib, size = frames.nbytes / 2**20, path.stat().st_size / len(frames)
        print(
            f"FILTER {describe(name, level):7s} bytes_per_frame={size:6.1f} "
            f"encode_MiB_s={mib / encode:6.0f} decode_MiB_s={mib / statistics.median(decode):6.0f} "
            "(CPU time, one thread)",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke version")
    args = parser.parse_args()
    steps, repeats = (6000, 3) if args.quick else (40000, 5)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        store = bench_collection(tmp, steps, repeats)
        bench_bytes(store, tmp, 3000 if args.quick else 10000)
        bench_windows(store, 0.3 if args.quick else 1.0, repeats)
        bench_streaming(store, 2, repeats)
        bench_filters(store, repeats)
        if args.quick:
            bench_rss(tmp, 10_000, 1_000)
        else:
            bench_rss(tmp, 50_000, 5_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
