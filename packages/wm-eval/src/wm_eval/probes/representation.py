"""Representation probe: neighbourhoods vs pixels and RAM state, smoothness, noise, collapse."""

from __future__ import annotations

import numpy as np
import torch

from wm_eval.context import EncoderColumn, EvalContext
from wm_eval.data import subsample
from wm_eval.metrics import (
    collapse_stats,
    continuity,
    noise_robustness,
    smoothness,
    trustworthiness,
    twonn_dimension,
)
from wm_eval.models import encode
from wm_eval.plots import bar_plot, line_plot
from wm_eval.probes.ram_maps import select_variables, state_matrix
from wm_eval.report import Table

HORIZON = 1


def _pixels(frames: torch.Tensor, step: int, context: int, space: str) -> np.ndarray:
    """Flattened [0, 1] pixels of the state at ``step``: all context frames or the last one."""
    x = frames[:, step : step + context] if space == "context" else frames[:, step + context - 1]
    return x.reshape(len(x), -1).numpy().astype(np.float32) / 255.0


def _safe(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


def _column(
    ctx: EvalContext, col: EncoderColumn, pixels: dict[tuple, np.ndarray]
) -> dict[str, float | None]:
    cfg, src = ctx.config, col.source
    assert src is not None and col.encoder is not None
    batch = src.batch("val", HORIZON, cfg.max_samples, cfg.seed)
    T = src.context
    z = ctx.latents(col.encoder, src, "val", HORIZON, cfg.max_samples, 0)
    z_next = ctx.latents(col.encoder, src, "val", HORIZON, cfg.max_samples, 1)
    for step in (0, 1):  # flattened pixels are large: once per store, shared by all columns
        if (src.key, step) not in pixels:
            pixels[src.key, step] = _pixels(batch["frames"], step, T, cfg.pixel_space)
    x, x_next = pixels[src.key, 0], pixels[src.key, 1]
    out: dict[str, float | None] = {}

    nb = subsample(len(z), cfg.neighbour_samples, cfg.seed + 1)
    k = min(cfg.n_neighbors, (len(nb) - 1) // 2)
    refs = {"pixels": x[nb]}
    if "ram" in batch:
        ram = batch["ram"][:, T - 1].numpy()
        train = src.batch("train", HORIZON, cfg.probe_train_samples, cfg.seed)["ram"][:, T - 1]
        variables = select_variables(
            src.metadata.get("env_id", ""), train.numpy(), cfg.ram_top_bytes
        )
        refs["RAM state"] = _safe(state_matrix, ram[nb], variables, train.numpy())
    for space, ref in refs.items():
        ok = ref is not None and k >= 1
        kw = {"n_neighbors": k, "working_memory": cfg.working_memory_mib}
        out[f"trustworthiness vs {space} (k={k})"] = (
            trustworthiness(ref, z[nb], **kw) if ok else None
        )
        out[f"continuity vs {space} (k={k})"] = continuity(ref, z[nb], **kw) if ok else None

    sm = smoothness(z, z_next, x, x_next, seed=cfg.seed)
    out["smoothness: latent step / median pairwise"] = sm["latent_step"]
    out["smoothness: latent step / pixel step"] = sm.get("ratio")

    pick = subsample(len(z), cfg.noise_samples, cfg.seed + 2)
    noisy = batch["frames"][pick, :T].float().numpy() / 255.0

    def enc(images: np.ndarray) -> np.ndarray:
        return encode(col.encoder, torch.from_numpy(images), ctx.device, cfg.batch_size)

    noise = _safe(noise_robustness, enc, noisy, cfg.noise_sigmas, seed=cfg.seed) or {}
    for name, v in noise.items():
        out[f"noise robustness {name}"] = v
    return out


def _collapse(z: np.ndarray) -> dict[str, float | None]:
    st = collapse_stats(z)
    return {
        "participation ratio": st["participation_ratio"],
        "participation ratio / D": st["participation_ratio_frac"],
        "TwoNN intrinsic dimension": _safe(twonn_dimension, z),
        "effective rank": st["effective_rank"],
        "effective rank / D": st["effective_rank_frac"],
        "dead dims (share)": st["dead_dims"],
        "per-dim std (mean)": st["std_mean"],
        "per-dim std (min)": st["std_min"],
        "latent dim D": float(z.shape[1]),
    }


def run(ctx: EvalContext) -> list[Table]:
    """Fill the representation and collapse tables, plus the noise-robustness figure."""
    cfg = ctx.config
    rep = Table(
        "representation",
        "Representation: neighbourhoods, smoothness, noise robustness",
        "Trustworthiness/continuity (sklearn definition, k-NN search, no N×N matrix) of the "
        "latent against flattened [0,1] pixels and against standardised RAM state variables "
        f"(subsample of ≤{cfg.neighbour_samples} validation states). Smoothness: mean latent "
        "distance between consecutive states divided by the median pairwise latent distance, "
        "and that over the same quantity in pixel space. Noise robustness: latent displacement "
        "under Gaussian noise of std σ on the [0,1] image scale, divided by the median pairwise "
        "latent distance (0 for a constant encoder).",
        better="trustworthiness/continuity higher; smoothness and noise robustness lower "
        "(but check collapse: a constant encoder scores 0)",
    )
    col = Table(
        "collapse",
        "Representation: global geometry and collapse",
        "Participation ratio (Σλ)²/Σλ² and effective rank (exp spectral entropy) of the latent "
        "covariance, also as a share of D; TwoNN intrinsic dimension N/Σlog(r2/r1) (Facco et "
        "al. 2017, duplicates removed); share of dimensions with std < 1% of the largest.",
        better="higher rank / PR and fewer dead dims = less collapse",
    )
    noise_curves: dict[str, tuple[list[float], list[float]]] = {}
    columns = ctx.encoder_columns()
    pixels: dict[tuple, np.ndarray] = {}
    for c in columns:
        for t in (rep, col):
            t.add_column(c.label, baseline=c.baseline)
        if c.encoder is None or c.source is None:
            continue
        values = _column(ctx, c, pixels)
        for name, v in values.items():
            rep.set(name, c.label, v)
        z = ctx.latents(c.encoder, c.source, "val", HORIZON, cfg.max_samples, 0)
        for name, v in _collapse(z).items():
            col.set(name, c.label, v)
        sig = [s for s in cfg.noise_sigmas if f"noise robustness sigma={s:g}" in values]
        noise_curves[c.label] = (sig, [values[f"noise robustness sigma={s:g}"] for s in sig])
    for t in (rep, col):
        if not t.baselines:
            t.add_column("random-init", baseline=True)
    shown = [r for r in rep.rows if r.startswith(("trustworthiness", "continuity"))]
    if shown:
        path = ctx.out_dir / "plots" / "neighbourhoods.png"
        bar_plot(
            {r: rep.rows[r] for r in shown},
            path,
            ylabel="score (1 = preserved)",
            title="Trustworthiness / continuity vs pixels and RAM state",
        )
        ctx.figure("Neighbourhood preservation (random-init encoder as baseline)", path)
    if noise_curves:
        path = ctx.out_dir / "plots" / "noise_robustness.png"
        line_plot(
            {k: v for k, v in noise_curves.items() if v[0]},
            path,
            xlabel="noise std σ ([0,1] image scale)",
            ylabel="latent displacement / median pairwise distance",
            title="Noise robustness",
            dashed={c.label for c in columns if c.baseline},
        )
        ctx.figure("Noise robustness (dashed: baselines)", path)
    return [rep, col]
