"""The interval width that each window per episode buys, for the cells a decoder pass pays for.

    python packages/wm-eval/scripts/interval_widths.py --run runs/jepa \
        --run runs/encoder_decoder [--max-samples 4000] [--per-episode 4 8 16 32 64] \
        [--save widths.npz | --load widths.npz]

The episode bootstrap resamples whole episodes, so windows of one episode are not independent
evidence: past some number of windows per episode, more of them leave the 95% interval about
as wide as it was. This script scores every decoder on the whole scored subsample
(``max_samples`` windows of the test split, as ``wm-eval`` draws them; ``--save`` keeps the
per-window values, ``--load`` reads them back), then recomputes each cell's interval on ``m``
windows evenly spread through every episode (the thinning of ``wm_eval.data.per_episode``,
started at ``--phases`` random offsets, since Atari errors are heavy-tailed and one thinning
may keep or miss a rare large error) and prints the mean width relative to the whole
subsample's, and the mean shift of the point value in units of that width.

Cells: each decoder's next-frame L1 (whole frame, object regions, changed pixels), its decoded
rollout MSE at k = 1 and k = H under its own protocol, the paired difference to
copy-last-frame at k = H (what a verdict reads), and the pixel baselines.
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
from wm_eval.evaluation import _labels, load_runs
from wm_eval.loading import apply_batched
from wm_eval.metrics.images import region_sums, window_errors
from wm_eval.probes.rollout_pixels import (
    LATENT_LOOP,
    PIXEL_LOOP,
    PIXEL_WORKFLOWS,
    decoded_rollouts,
)
from wm_eval.report import Report
from wm_eval.runs import discover
from wm_eval.scoring import NextFrameWindows, frame_reference, to_unit
from wm_eval.session import EvalSession
from wm_eval.stats import Measurement

# A cell is a pooled mean: per-window numerators and denominators (1 for a plain mean).
Cells = dict[str, tuple[np.ndarray, np.ndarray]]


def _mean(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(values, np.float64), np.ones(len(values))


def score(session: EvalSession) -> tuple[dict[str, Cells], dict[str, np.ndarray]]:
    """Per-window numerators and denominators of every cell, by window set."""
    cfg = session.config
    horizon = cfg.rollout_horizon
    out: dict[str, Cells] = {"next_frame": {}, "rollout": {}}
    episodes: dict[str, np.ndarray] = {}
    for g in session.groups:
        src = session.source(g)
        if src is None or g.encoder is None or not g.decoders:
            continue
        windows = NextFrameWindows.load(src, cfg.split, cfg.max_samples, cfg.seed)
        episodes["next_frame"] = windows.episodes
        batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
        episodes["rollout"] = batch["episode"].numpy()
        T = src.context
        ref = frame_reference(src, cfg.probe_train_samples, cfg.seed)
        last = to_unit(batch["frames"][:, T - 1])
        true = to_unit(batch["frames"][:, T + horizon - 1])
        copy = window_errors(true, last)["mse"]
        base = ref.predictions(last)
        for name in (C.COPY_FRAME, C.MEAN_FRAME, C.BLUR_FRAME):
            out["rollout"][f"{name}, k={horizon}"] = _mean(window_errors(true, base[name])["mse"])
        for comp in g.decoders:
            t0 = time.perf_counter()
            enc = comp.get("encoder") or g.encoder
            pred = comp.get("predictor") or g.predictor
            dec = comp.get("decoder")
            z = session.latents(enc, src, cfg.split, 1, cfg.max_samples, 0)
            z = torch.from_numpy(z).float()
            z = apply_batched(pred, z, windows.actions, device=session.device)
            recon = apply_batched(dec, z, device=session.device).clamp(0, 1).numpy()
            out["next_frame"][f"{comp.label} l1"] = _mean(window_errors(windows.true, recon)["l1"])
            for key, mask in (("l1_objects", windows.objects), ("l1_changed", windows.changed)):
                out["next_frame"][f"{comp.label} {key}"] = region_sums(windows.true, recon, mask)
            own = PIXEL_LOOP if comp.run.workflow in PIXEL_WORKFLOWS else LATENT_LOOP
            z0 = session.latents(enc, src, cfg.split, horizon, cfg.max_samples, 0)
            errors, _ = decoded_rollouts(
                (enc, pred, dec),
                batch["frames"],
                batch["actions"],
                T,
                protocols=(own,),
                device=session.device,
                z0=z0,
            )[own]
            label = f"{comp.label}/{own}"
            out["rollout"][f"{label}, k=1"] = _mean(errors[:, 0])
            out["rollout"][f"{label}, k={horizon}"] = _mean(errors[:, -1])
            diff = f"{label} − {C.COPY_FRAME}, k={horizon}"
            out["rollout"][diff] = _mean(errors[:, -1] - copy)
            print(f"scored {comp.label} in {time.perf_counter() - t0:.0f}s", flush=True)
    return out, episodes


def thinned(episodes: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """``per_episode``'s evenly spread windows, each episode's grid shifted by a random phase."""
    picks = []
    for e in np.unique(episodes):
        rows = np.flatnonzero(episodes == e)
        if len(rows) <= m:
            picks.append(rows)
            continue
        step = len(rows) / m
        picks.append(rows[(rng.uniform(0, step) + step * np.arange(m)).astype(np.int64)])
    return np.sort(np.concatenate(picks))


def cell(num: np.ndarray, den: np.ndarray, episodes: np.ndarray) -> tuple[float, float]:
    """Value and 95% interval width of a pooled mean on these windows."""
    iv = Measurement.pooled(num, den, episodes).interval()
    return iv.value, iv.high - iv.low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[])
    parser.add_argument("--max-samples", type=int, default=EvalConfig.max_samples)
    parser.add_argument("--per-episode", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--phases", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--save", type=Path, help="keep the per-window values in this .npz")
    parser.add_argument("--load", type=Path, help="read per-window values saved by --save")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.load:
        saved = np.load(args.load, allow_pickle=True)
        values, episodes = saved["values"].item(), saved["episodes"].item()
    else:
        if not args.run:
            parser.error("name --run directories, or --load saved values")
        config = EvalConfig(
            probes=("reconstruction",), max_samples=args.max_samples, device=args.device
        )
        device = resolve_device(config.device)
        runs = discover(args.run)
        report = Report()
        groups, sources = load_runs(runs, _labels(runs), config, device, report)
        session = EvalSession(config, device, Path("."), groups, sources, report)
        values, episodes = score(session)
        if args.save:
            np.savez(args.save, values=np.array(values), episodes=np.array(episodes))
    rng = np.random.default_rng(0)
    for name, table in values.items():
        eps = episodes[name]
        n_eps = len(np.unique(eps))
        counts = [len(thinned(eps, m, rng)) for m in args.per_episode]
        heads = [f"all ({len(eps)})"] + [
            f"m={m} ({n})" for m, n in zip(args.per_episode, counts, strict=True)
        ]
        print(
            f"\n{name} windows, {n_eps} episodes: 95% interval width of all windows, then per m "
            f"the mean over {args.phases} thinnings of width / width(all) and "
            "(in brackets) of |value − value(all)| / width(all)"
        )
        print("| cell | " + " | ".join(heads) + " |")
        print("|---|" + "---:|" * len(heads))
        for label, (num, den) in table.items():
            value, width = cell(num, den, eps)
            row = [f"{width:.3g}"]
            for m in args.per_episode:
                ratios, shifts = [], []
                for _ in range(args.phases):
                    keep = thinned(eps, m, rng)
                    v, w = cell(num[keep], den[keep], eps[keep])
                    ratios.append(w / width)
                    shifts.append(abs(v - value) / width)
                row.append(f"{np.mean(ratios):.2f} ({np.mean(shifts):.2f})")
            print(f"| {label} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
