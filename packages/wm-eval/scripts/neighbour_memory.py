"""Peak memory and time of the neighbourhood metrics on large synthetic clouds.

    python packages/wm-eval/scripts/neighbour_memory.py [--n 36000] [--pixels-n 4000]

Measures trustworthiness + continuity of a D=64 latent against a 16-variable state space at
the seed project's validation size, and against 64x64x4 pixels at the default subsample. The
peak is taken with tracemalloc (numpy reports its buffers to it) and compared with what the
dense sklearn implementation would allocate (an N x N float64 distance matrix per space plus
its int64 argsort).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from wm_eval.metrics import continuity, trustworthiness


def measure(name: str, reference: np.ndarray, latent: np.ndarray, k: int, wm: int) -> None:
    n = len(latent)
    tracemalloc.start()
    t0 = time.perf_counter()
    t = trustworthiness(reference, latent, n_neighbors=k, working_memory=wm)
    c = continuity(reference, latent, n_neighbors=k, working_memory=wm)
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    dense = 2 * n * n * 8 / 2**20
    inputs = (reference.nbytes + latent.nbytes) / 2**20
    print(
        f"{name}: N={n} D_ref={reference.shape[1]} D_lat={latent.shape[1]} k={k} "
        f"T={t:.4f} C={c:.4f} time={dt:.1f}s peak_traced={peak / 2**20:.0f} MiB "
        f"(inputs {inputs:.0f} MiB; dense sklearn would need >= {dense:.0f} MiB)"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=36_000)
    p.add_argument("--pixels-n", type=int, default=4_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--working-memory", type=int, default=256)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    state = rng.normal(size=(args.n, 16))
    latent = np.tanh(state @ rng.normal(size=(16, 64))) + 0.1 * rng.normal(size=(args.n, 64))
    measure("latent vs RAM state", state, latent, args.k, args.working_memory)
    pix = rng.uniform(size=(args.pixels_n, 4 * 64 * 64)).astype(np.float32)
    measure("latent vs pixels", pix, latent[: args.pixels_n], args.k, args.working_memory)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
