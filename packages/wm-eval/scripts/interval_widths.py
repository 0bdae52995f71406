"""The interval width that each window per episode buys, for the cells a decoder pass pays for.

    python packages/wm-eval/scripts/interval_widths.py --run runs/jepa \
        --run runs/encoder_decoder [--max-samples 4000] [--per-episode 4 8 16 32 64]

The episode bootstrap resamples whole episodes, so windows of one episode are not independent
evidence: past some number of windows per episode, more of them leave the 95% interval as wide
as it was. This script scores every decoder on the whole scored subsample (``max_samples``
windows of the test split, as ``wm-eval`` draws them), then recomputes each cell's interval on
``m`` windows evenly spread through every episode (``wm_eval.data.per_episode``) and prints
its width relative to the whole subsample's. Cells: each decoder's next-frame L1 (whole frame,
objects, changed pixels), its decoded rollout MSE at k = 1 and k = H under its own protocol,
the paired difference to copy-last-frame at k = H (what a verdict reads), and the pixel
baselines.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from wm_core import resolve_device
from wm_eval import EvalConfig
from wm_eval import columns as C
from wm_eval.data import per_episode
from wm_eval.evaluation import _labels, load_runs
from wm_eval.loading import apply_batched
from wm_eval.probes.rollout_pixels import LATENT_LOOP, PIXEL_LOOP, PIXEL_WORKFLOWS, decoded_rollout
from wm_eval.report import Report
from wm_eval.runs import discover
from wm_eval.scoring import NextFrameWindows, frame_reference, to_unit
from wm_eval.session import EvalSession
from wm_eval.stats import Measurement


def cells(session: EvalSession) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per-window values of every cell, by window set (``next_frame``, ``rollout``)."""
    cfg = session.config
    horizon = cfg.rollout_horizon
    out: dict[str, dict[str, np.ndarray]] = {"next_frame": {}, "rollout": {}}
    episodes: dict[str, np.ndarray] = {}
    for g in session.groups:
        src = session.source(g)
        if src is None or g.encoder is None:
            continue
        windows = NextFrameWindows.load(src, cfg.split, cfg.max_samples, cfg.seed)
        episodes["next_frame"] = windows.episodes
        batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
        episodes["rollout"] = batch["episode"].numpy()
        T = src.context
        ref = frame_reference(src, cfg.probe_train_samples, cfg.seed)
        last = to_unit(batch["frames"][:, T - 1])
        true = to_unit(batch["frames"][:, T + horizon - 1])
        base = ref.predictions(last)
        for name in (C.COPY_FRAME, C.MEAN_FRAME, C.BLUR_FRAME):
            err = ((base[name] - true) ** 2).reshape(len(true), -1).mean(axis=1)
            out["rollout"][f"{name}, k={horizon}"] = err
        for comp in g.decoders:
            enc = comp.get("encoder") or g.encoder
            pred = comp.get("predictor") or g.predictor
            dec = comp.get("decoder")
            t0 = time.perf_counter()
            z = session.latents(enc, src, cfg.split, 1, cfg.max_samples, 0)
            z = apply_batched(
                pred, torch.from_numpy(z).float(), windows.actions, device=session.device
            )
            recon = apply_batched(dec, z, device=session.device).clamp(0, 1).numpy()
            for key, m in windows.measure(recon).items():
                if key in ("l1", "l1_objects", "l1_changed"):
                    out["next_frame"][f"{comp.label} {key}"] = m
            own = PIXEL_LOOP if comp.run.workflow in PIXEL_WORKFLOWS else LATENT_LOOP
            errors, _ = decoded_rollout(
                (enc, pred, dec),
                batch["frames"],
                batch["actions"],
                T,
                reencode=own == PIXEL_LOOP,
                device=session.device,
            )
            label = f"{comp.label}/{own}"
            out["rollout"][f"{label}, k=1"] = errors[:, 0]
            out["rollout"][f"{label}, k={horizon}"] = errors[:, -1]
            copy = out["rollout"][f"{C.COPY_FRAME}, k={horizon}"]
            out["rollout"][f"{label} − {C.COPY_FRAME}, k={horizon}"] = errors[:, -1] - copy
            print(f"scored {comp.label} in {time.perf_counter() - t0:.0f}s", flush=True)
    return out, episodes


def width(m: Measurement) -> float:
    iv = m.interval()
    return float(iv.high - iv.low)


def measurement(values, episodes: np.ndarray, keep: np.ndarray) -> Measurement:
    """A cell on the windows ``keep``: a per-window mean, or (next-frame rows) the measurement's
    own statistic restricted to those windows."""
    if isinstance(values, Measurement):
        stat = values.statistic
        return Measurement(episodes[keep], lambda idx: stat(keep[idx]))
    return Measurement.mean(np.asarray(values)[keep], episodes[keep])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True)
    parser.add_argument("--max-samples", type=int, default=EvalConfig.max_samples)
    parser.add_argument("--per-episode", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = EvalConfig(
        probes=("reconstruction",), max_samples=args.max_samples, device=args.device
    )
    device = resolve_device(config.device)
    runs = discover(args.run)
    report = Report()
    groups, sources = load_runs(runs, _labels(runs), config, device, report)
    session = EvalSession(config, device, Path("."), groups, sources, report)
    values, episodes = cells(session)
    for name, table in values.items():
        eps = episodes[name]
        n_eps = len(np.unique(eps))
        heads = [f"all ({len(eps)})"]
        subsets = []
        for m in args.per_episode:
            keep = per_episode(eps, m)
            subsets.append(keep)
            heads.append(f"m={m} ({len(keep)})")
        print(f"\n{name} windows, {n_eps} episodes: 95% interval width, then width / width(all)")
        print("| cell | " + " | ".join(heads) + " |")
        print("|---|" + "---:|" * len(heads))
        for cell, v in table.items():
            full = width(measurement(v, eps, np.arange(len(eps))))
            ratios = [width(measurement(v, eps, keep)) / full for keep in subsets]
            print(f"| {cell} | {full:.3g} | " + " | ".join(f"{r:.2f}" for r in ratios) + " |")


if __name__ == "__main__":
    main()
