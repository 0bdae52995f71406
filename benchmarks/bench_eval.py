"""Evaluation speed of wm-eval against the encoder pass it cannot avoid, measured in the same run.

- eval_vs_encode (ours / baseline, target <= 10):
  ours = wall time of one full ``wm_eval.evaluate`` of two tiny runs (a JEPA with a derived
  decoder and reward head, an encoder-decoder with a reward head; every built-in probe, the
  settings of ``configs/eval.gin``), checkpoints and store read included;
  baseline = one pass of one run's encoder over the windows the evaluation reads (the
  training-split subsample and the scored subsample, horizon 1), the windows already in memory.
  Both sides run in this process, on the same threads (``THREADS`` torch threads; numpy/sklearn
  as the environment sets them), interleaved: encoder pass, evaluation, encoder pass, ... with
  ``repeats`` evaluations. The machine's load drifts, so each evaluation is paired with the
  mean of the encoder passes just before and just after it, and the ratio is the median of
  the paired ratios. The per-probe breakdown of that evaluation follows (what ``wm-eval -v``
  logs and ``report.json`` records under ``timings``), with the sample size of every table.
- A ``NOTE`` line (no target): the same evaluation with the pooled-pixel baselines read from a
  filled ``EvalConfig.baseline_cache``, as a sweep's later evaluations of one store run.

The store (real ALE, random policy: 40 episodes, as the tiny quickstart collects) and the runs (a
few wm-train steps) are made here, so the benchmark runs on a fresh machine. Its test split holds
at least ``wm_eval.stats.MIN_EPISODES`` episodes, so every interval and verdict is computed.

    python benchmarks/bench_eval.py [--quick]
"""

from __future__ import annotations

import argparse
import json
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


def time_eval(runs: list[Path], out: Path, cache: Path | None = None) -> tuple[float, dict]:
    """Wall time of one evaluation, and its ``report.json`` (timings, tables' sample sizes).

    ``cache``: the baseline read-outs' folder (``EvalConfig.baseline_cache``), as a sweep sets
    it; None, as the RATIO is measured: everything is fit.
    """
    from wm_eval import EvalConfig, evaluate
    from wm_eval.probes import default_probes

    folder = None if cache is None else str(cache)
    config = EvalConfig(probes=default_probes(), device="cpu", baseline_cache=folder)
    t0 = time.perf_counter()
    evaluate([str(r) for r in runs], out, config)
    seconds = time.perf_counter() - t0
    return seconds, json.loads((out / "report.json").read_text())


def breakdown(report: dict) -> list[str]:
    """Per probe: its time and its parts, then the sample sizes each table scored."""
    timings = report["timings"]
    lines = [f"loading: {timings['loading']:.1f}s"]
    for name, probe in timings["probes"].items():
        lines.append(f"probe {name}: {probe['total']:.1f}s")
        lines += [f"  {part}: {sec:.1f}s" for part, sec in probe["parts"].items()]
    lines.append(f"headline and provenance: {timings['report']:.1f}s")
    for name, table in report["tables"].items():
        scored = ", ".join(
            f"{s['episodes']} episodes/{s['windows']} windows" for s in table["scored"]
        )
        lines.append(f"table {name}: scored on {scored or '-'}")
    return lines


class EncoderPass:
    """One pass of a run's encoder over the windows the evaluation reads (horizon 1): the
    training-split subsample and the scored subsample, loaded once, in wm-eval's layout and
    batch size."""

    def __init__(self, run: Path) -> None:
        from wm_eval import EvalConfig
        from wm_eval.data import DataSource
        from wm_eval.loading import for_inference
        from wm_eval.runs import discover
        from wm_models import load_modules

        self.config = EvalConfig(probes=("state",), device="cpu")
        info = discover([str(run)])[0]
        src = DataSource.from_run(info)
        cfg = self.config
        self.frames = torch.cat(
            [
                src.batch("train", 1, cfg.probe_train_samples, cfg.seed)["frames"],
                src.batch(cfg.split, 1, cfg.max_samples, cfg.seed)["frames"],
            ]
        )[:, :CONTEXT]
        cpu = torch.device("cpu")
        self.encoder = for_inference(
            load_modules(info.checkpoint, map_location=cpu)["encoder"], cpu
        )

    def time(self, repeats: int = 3) -> float:
        """The median wall time of ``repeats`` passes (a pass is short: its noise is not)."""
        from wm_eval.loading import encode

        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            encode(self.encoder, self.frames, torch.device("cpu"), self.config.batch_size)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def main() -> None:
    from wm_eval.stats import MIN_EPISODES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke version")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("WM_MODELS_NO_PLUGINS", "1")
    warnings.simplefilter("ignore")  # short runs: collapse and convergence warnings
    episodes, steps = (40, 50) if args.quick else (40, 150)
    repeats = 3

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = make_tiny_store(
            root / "store.h5", episodes=episodes, max_episode_steps=steps, size=SIZE
        )
        runs = make_runs(store, root / "runs", epochs=1)
        encoder = EncoderPass(runs[0])
        encoder.time(1)  # warm-up: kernel selection, allocator
        windows = len(encoder.frames)
        encodes, evals = [encoder.time()], []
        for i in range(repeats):  # interleaved: each evaluation between two encoder passes
            evals.append(time_eval(runs, root / f"eval{i}"))
            encodes.append(encoder.time())
        # The machine's load drifts: each evaluation is paired with the mean of the encoder
        # passes just before and just after it; the ratio is the median over repeats.
        paired = [(encodes[i] + encodes[i + 1]) / 2 for i in range(repeats)]
        ratios = [t / base for (t, _), base in zip(evals, paired, strict=True)]
        middle = sorted(range(repeats), key=lambda i: ratios[i])[repeats // 2]
        median_eval, report = evals[middle]
        test = report["provenance"]["stores"][0]["split"]["episodes"]["test"]
        if test < MIN_EPISODES:
            raise SystemExit(f"the store's test split has {test} episodes (< {MIN_EPISODES})")
        ratio(
            "eval_vs_encode",
            ratios[middle],
            "<=",
            10,
            f"{median_eval:.1f}s full wm-eval of 2 runs (median paired ratio of {repeats})",
            f"{paired[middle]:.2f}s one encoder pass over {windows} windows (mean of the median "
            f"of 3 passes before and after it), {THREADS} torch threads both",
        )
        print(
            f"evaluations: {', '.join(f'{t:.1f}s' for t, _ in evals)}; "
            f"encoder passes: {', '.join(f'{t:.2f}s' for t in encodes)}; "
            f"paired ratios: {', '.join(f'{r:.1f}' for r in ratios)}"
        )
        # A sweep's later evaluations of one store read the pooled-pixel baselines from its
        # cache: one evaluation fills it, the next is timed against the passes around it.
        time_eval(runs, root / "fill", root / "baselines")
        before = encoder.time()
        warm, _ = time_eval(runs, root / "warm", root / "baselines")
        after = encoder.time()
        print(
            f"NOTE eval_cached_baselines_vs_encode {warm / ((before + after) / 2):.3g} | "
            f"{warm:.1f}s wm-eval of the same 2 runs with the pooled-pixel baselines read from "
            f"EvalConfig.baseline_cache (a sweep's second and later evaluations of a store)",
            flush=True,
        )
        print(f"per-probe breakdown (median evaluation; test split: {test} episodes):")
        for line in breakdown(report):
            print(f"  {line}")


if __name__ == "__main__":
    main()
