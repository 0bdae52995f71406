"""Planning speed of the control probe: batched candidate rollouts against one sequence at a time.

- planning_batched_vs_sequential: decisions per second of the control probe's default planner
  (``ControlConfig()``: CEM, 128 candidates x horizon 6 x 2 iterations) when every candidate
  sequence is rolled through the predictor in one batch (``LatentModel``, one predictor and
  reward-head call of 128 rows per step) divided by the same planner, same model, same states
  and same sampling seeds rolling one sequence at a time (``LatentModel.sequential()``: 128
  calls of one row per step), the median of the same number of interleaved repeats, same
  threads (target >= 10x). One thread on both sides: on a shared 2-core machine a two-thread
  matrix product waits for whichever thread was descheduled (measured: 38 ms for a 256-row
  predictor and head call on 2 threads, 5 ms on 1), which would time the machine's load rather
  than the rollout.

The model is the default architecture at the default 64x64 scale (conv encoder over 4 frames,
MLP predictor, MLP reward head, latent 64) with random weights: speed does not depend on them.

    python benchmarks/bench_planning.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from wm_eval.planning import ControlConfig, LatentModel, make_planner
from wm_models import build

SIZE, CONTEXT, LATENT, ACTIONS, THREADS = 64, 4, 64, 7, 1


def ratio(name: str, value: float, op: str, target: float, ours: str, baseline: str) -> None:
    print(f"RATIO {name} {value:.3f} {op} {target:g} | ours={ours} baseline={baseline}", flush=True)


def make_model() -> LatentModel:
    torch.manual_seed(0)
    encoder = build(
        "encoder", "conv", frame_shape=(1, SIZE, SIZE), context=CONTEXT, latent_dim=LATENT
    )
    predictor = build("predictor", "mlp", latent_dim=LATENT, num_actions=ACTIONS)
    head = build("reward_head", "mlp", latent_dim=LATENT)
    return LatentModel(encoder, predictor, head, num_actions=ACTIONS)


def decisions_per_second(model: LatentModel, states: np.ndarray, cfg: ControlConfig) -> float:
    """Encode each state and plan once from it, as the probe does at every step."""
    planner = make_planner(
        cfg.planner,
        num_actions=ACTIONS,
        candidates=cfg.candidates,
        horizon=cfg.horizon,
        discount=cfg.discount,
        iterations=cfg.iterations,
        elites=cfg.elites,
        smoothing=cfg.smoothing,
    )
    t0 = time.perf_counter()
    for i, state in enumerate(states):
        model.observe(state)
        planner.plan(model, torch.Generator().manual_seed(i))
    return len(states) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke version")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("WM_MODELS_NO_PLUGINS", "1")
    decisions, repeats = (2, 1) if args.quick else (4, 3)
    cfg = ControlConfig()
    rng = np.random.default_rng(0)
    states = rng.integers(0, 256, (decisions, CONTEXT, 1, SIZE, SIZE), dtype=np.uint8)
    batched = make_model()
    sequential = batched.sequential()
    decisions_per_second(batched, states[:1], cfg)  # warm-up: kernel selection, allocator
    ours, base = [], []
    for _ in range(repeats):  # interleaved, so both sides see the same machine load
        ours.append(decisions_per_second(batched, states, cfg))
        base.append(decisions_per_second(sequential, states, cfg))
    fast, slow = statistics.median(ours), statistics.median(base)
    rows = cfg.candidates * cfg.horizon * cfg.iterations
    ratio(
        "planning_batched_vs_sequential",
        fast / slow,
        ">=",
        10,
        f"{fast:.1f} decisions/s batched ({cfg.candidates} candidates per call)",
        f"{slow:.2f} decisions/s one sequence at a time ({rows} calls of 1 row per decision)",
    )


if __name__ == "__main__":
    main()
