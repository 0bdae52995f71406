"""Evaluation speed of wm-eval against the encoder pass it cannot avoid, measured in the same run.

- eval_vs_encode: wall time of a full ``wm_eval.evaluate`` of two tiny runs (a JEPA with a
  derived decoder and reward head, an encoder-decoder with a reward head; every built-in probe,
  the settings of ``configs/eval.gin``) divided by the time of one pass of one run's encoder
  over the windows the evaluation reads (the training-split subsample and the scored
  subsample, horizon 1), both the median of the same number of repeats, same threads
  (target <= 10x). The per-probe breakdown of the median evaluation follows (``wm-eval -v``).

The store (real ALE, random policy) and the runs (a few wm-train steps) are made here, so the
benchmark runs on a fresh machine.

    python benchmarks/bench_eval.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from wm_data.testing import make_tiny_store
from wm_train import DataConfig, FreezeModules, OptimConfig, Trainer

SIZE, CONTEXT, LATENT, BATCH, THREADS = 64, 4, 64, 64, 2


def ratio(name: str, value: float, op: str, target: float, ours: str, baseline: str) -> None:
    print(f"RATIO {name} {value:.3f} {op} {target:g} | ours={ours} baseline={baseline}", flush=True)


def train(store: Path, run_dir: Path, workflow: str, epochs: int, **settings) -> Path:
    """A real wm-train run of ``epochs`` epochs (the modules only need to exist, not be good)."""
    Trainer(
        workflow=workflow,
        latent_dim=LATENT,
        data=DataConfig(paths=str(store), context=CONTEXT, batch_size=BATCH),
        optim=OptimConfig(lr=3e-4),
        epochs=epochs,
        run_dir=str(run_dir),
        device="cpu",
        progress=False,
        log_every=50,
        **settings,
    ).fit()
    return run_dir


def make_runs(store: Path, root: Path, epochs: int) -> list[Path]:
    """JEPA (+ derived decoder and reward head) and encoder-decoder (+ reward head)."""
    jepa = train(
        store,
        root / "jepa",
        "jepa",
        epochs,
        modules={"encoder": "conv", "predictor": "mlp"},
        ema={"target_encoder": "encoder"},
        loss="jepa",
    )
    ed = train(
        store,
        root / "encoder_decoder",
        "encoder_decoder",
        epochs,
        modules={"encoder": "conv", "predictor": "mlp", "decoder": "conv"},
        loss="reconstruction",
    )
    train(
        store,
        jepa / "jepa_decoder",
        "jepa_decoder",
        epochs,
        modules={"decoder": "conv"},
        init_from=str(jepa),
        load=["encoder", "predictor"],
        freeze=FreezeModules(["encoder", "predictor"]),
        loss="reconstruction",
    )
    for run in (jepa, ed):
        train(
            store,
            run / "reward_predictor",
            "reward_predictor",
            epochs,
            modules={"reward_head": "mlp"},
            init_from=str(run),
            load=["encoder"],
            freeze=FreezeModules(["encoder"]),
            loss="reward",
        )
    return [jepa, ed]


class ProbeTimes(logging.Handler):
    """Collects the ``wm-eval -v`` timing lines of one evaluation."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def time_eval(runs: list[Path], out: Path) -> tuple[float, list[str]]:
    from wm_eval import EvalConfig, evaluate

    config = EvalConfig(
        probes=("representation", "state", "rollout", "reconstruction", "reward"),
        device="cpu",
    )
    handler = ProbeTimes()
    logger = logging.getLogger("wm_eval")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        t0 = time.perf_counter()
        evaluate([str(r) for r in runs], out, config)
        return time.perf_counter() - t0, handler.lines
    finally:
        logger.removeHandler(handler)


def time_encode(run: Path) -> tuple[float, int]:
    """One pass of the run's encoder over the windows the evaluation reads (horizon 1)."""
    from wm_eval import EvalConfig
    from wm_eval.data import DataSource
    from wm_eval.loading import encode
    from wm_eval.runs import discover
    from wm_models import load_modules

    config = EvalConfig(probes=("state",), device="cpu")
    info = discover([str(run)])[0]
    src = DataSource.from_run(info)
    frames = torch.cat(
        [
            src.batch("train", 1, config.probe_train_samples, config.seed)["frames"],
            src.batch(config.split, 1, config.max_samples, config.seed)["frames"],
        ]
    )[:, :CONTEXT]
    encoder = load_modules(info.checkpoint, map_location="cpu")["encoder"].eval()
    t0 = time.perf_counter()
    encode(encoder, frames, torch.device("cpu"), config.batch_size)
    return time.perf_counter() - t0, len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke version")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("WM_MODELS_NO_PLUGINS", "1")
    warnings.simplefilter("ignore")  # short runs: collapse and convergence warnings
    episodes, steps = (16, 60) if args.quick else (30, 150)
    repeats = 1 if args.quick else 3

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = make_tiny_store(
            root / "store.h5", episodes=episodes, max_episode_steps=steps, size=SIZE
        )
        runs = make_runs(store, root / "runs", epochs=1)
        time_encode(runs[0])  # warm-up: kernel selection, allocator
        evals, encodes = [], []
        for i in range(repeats):  # interleaved, so both sides see the same machine load
            evals.append(time_eval(runs, root / f"eval{i}"))
            encodes.append(time_encode(runs[0]))
        order = sorted(range(repeats), key=lambda i: evals[i][0])
        median_eval, lines = evals[order[len(order) // 2]]
        median_encode = statistics.median(t for t, _ in encodes)
        windows = encodes[0][1]
        ratio(
            "eval_vs_encode",
            median_eval / median_encode,
            "<=",
            10,
            f"{median_eval:.1f}s full wm-eval of 2 runs",
            f"{median_encode:.2f}s one encoder pass over {windows} windows",
        )
        print("per-probe breakdown (median evaluation):")
        for line in lines:
            print(f"  {line}")


if __name__ == "__main__":
    main()
