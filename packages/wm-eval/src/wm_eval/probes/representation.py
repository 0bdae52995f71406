"""Representation probe: neighbourhoods vs pixels and RAM state, smoothness, noise, collapse."""

from __future__ import annotations

import numpy as np
import torch

from wm_eval.columns import RANDOM_INIT
from wm_eval.data import subsample
from wm_eval.loading import encode
from wm_eval.metrics.intrinsic_dim import twonn_dimension
from wm_eval.metrics.neighbours import neighbourhoods_per_point
from wm_eval.metrics.representation import (
    collapse_stats,
    noise_displacements,
    pixel_steps,
    smoothness_steps,
    standard_noise,
)
from wm_eval.plots import bar_plot, line_plot
from wm_eval.probes.ram_maps import select_variables, state_matrix
from wm_eval.probes.registry import probe
from wm_eval.report import Table
from wm_eval.session import EncoderColumn, EvalSession
from wm_eval.stats import Measurement

HORIZON = 1
SPACES = {"pixels": "pixels", "ram_state": "RAM state"}  # reference-space key -> label
SMOOTHNESS = {
    "smoothness/latent_step": "smoothness: latent step / median pairwise",
    "smoothness/ratio": "smoothness: latent step / pixel step",
}
COLLAPSE = {  # row key -> label
    "participation_ratio": "participation ratio",
    "participation_ratio_frac": "participation ratio / D",
    "twonn": "TwoNN intrinsic dimension",
    "effective_rank": "effective rank",
    "effective_rank_frac": "effective rank / D",
    "dead_dims": "dead dims (share)",
    "std_mean": "per-dim std (mean)",
    "std_min": "per-dim std (min)",
    "latent_dim": "latent dim D",
}


def neighbour_key(measure: str, space: str) -> str:
    """``trustworthiness/pixels``, ``continuity/ram_state``, ..."""
    return f"{measure}/{space}"


def noise_key(sigma: float) -> str:
    return f"noise/sigma={sigma:g}"


def _pixels(frames: torch.Tensor, step: int, context: int, space: str) -> np.ndarray:
    """Flattened [0, 1] pixels of the state at ``step``: all context frames or the last one."""
    x = frames[:, step : step + context] if space == "context" else frames[:, step + context - 1]
    return x.reshape(len(x), -1).numpy().astype(np.float32) / 255.0


def _safe(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


Cells = dict[str, tuple[str, Measurement | None]]  # row key -> (label, per-window figure)


def _neighbourhoods(
    session: EvalSession, cols: list[EncoderColumn], zs: list[np.ndarray], x, batch
) -> dict[str, Cells]:
    """Trustworthiness and continuity of each latent against pixels and (with RAM) game state.

    Per state, its share of the score (neighbourhoods of the whole subsample), so the figure is
    resampled by episode with the neighbour graph held fixed. The columns share one store:
    reference distances and reference neighbours are computed once for all of them.
    """
    cfg, src = session.config, cols[0].source
    assert src is not None
    T = src.context
    nb = subsample(len(zs[0]), cfg.neighbour_samples, cfg.seed + 1)
    episodes = batch["episode"].numpy()[nb]
    k = min(cfg.n_neighbors, (len(nb) - 1) // 2)
    refs = {"pixels": x[nb]}
    if "ram" in batch:
        ram = batch["ram"][:, T - 1].numpy()
        train = src.batch("train", HORIZON, cfg.probe_train_samples, cfg.seed)["ram"][:, T - 1]
        variables = select_variables(
            src.metadata.get("env_id", ""), train.numpy(), cfg.ram_top_bytes
        )
        refs["ram_state"] = _safe(state_matrix, ram[nb], variables, train.numpy())
    out: dict[str, Cells] = {c.label: {} for c in cols}
    kw = {"n_neighbors": k, "working_memory": cfg.working_memory_mib}
    latents = [z[nb] for z in zs]
    for space, ref in refs.items():
        ok = ref is not None and k >= 1
        trust: list = [None] * len(cols)
        cont: list = [None] * len(cols)
        if ok:
            with session.timed(f"neighbourhoods vs {space}"):
                trust, cont = neighbourhoods_per_point(ref, latents, **kw)
        for c, t, u in zip(cols, trust, cont, strict=True):
            for measure, values in (("trustworthiness", t), ("continuity", u)):
                label = f"{measure} vs {SPACES[space]} (k={k})"
                value = Measurement.mean(values, episodes) if ok else None
                out[c.label][neighbour_key(measure, space)] = (label, value)
    return out


def _column(
    session: EvalSession, col: EncoderColumn, pixels: dict[tuple, np.ndarray], out: Cells
) -> Cells:
    """Smoothness and noise robustness of one encoder column (``pixels``: what its store's
    columns share: flattened pixels, their steps, the noise draw)."""
    cfg, src = session.config, col.source
    assert src is not None and col.encoder is not None
    batch = src.batch(cfg.split, HORIZON, cfg.max_samples, cfg.seed)
    episodes = batch["episode"].numpy()
    T = src.context
    z = session.latents(col.encoder, src, cfg.split, HORIZON, cfg.max_samples, 0)
    z_next = session.latents(col.encoder, src, cfg.split, HORIZON, cfg.max_samples, 1)
    steps = smoothness_steps(z, z_next, seed=cfg.seed)
    if (src.key, "steps") not in pixels:  # the same for every column of the store
        with session.timed("pixel steps"):
            pixels[src.key, "steps"] = pixel_steps(
                pixels[src.key, 0], pixels[src.key, 1], seed=cfg.seed
            )
    out["smoothness/latent_step"] = (
        SMOOTHNESS["smoothness/latent_step"],
        Measurement.mean(steps["latent"], episodes),
    )
    out["smoothness/ratio"] = (
        SMOOTHNESS["smoothness/ratio"],
        Measurement.pooled(steps["latent"], pixels[src.key, "steps"], episodes),
    )

    pick = subsample(len(z), cfg.noise_samples, cfg.seed + 2)
    images = batch["frames"][pick, :T].float().numpy() / 255.0
    if (src.key, "noise") not in pixels:  # one draw for every column of the store
        pixels[src.key, "noise"] = standard_noise(images.shape, cfg.seed)

    def enc(images: np.ndarray) -> np.ndarray:
        return encode(col.encoder, torch.from_numpy(images), session.device, cfg.batch_size)

    with session.timed("noise robustness"):
        kw = {"seed": cfg.seed, "clean": z[pick], "noise": pixels[src.key, "noise"]}
        noise = _safe(noise_displacements, enc, images, cfg.noise_sigmas, **kw) or {}
    for sigma in cfg.noise_sigmas:
        name = f"sigma={sigma:g}"
        if name in noise:
            value = Measurement.mean(noise[name], episodes[pick])
            out[noise_key(sigma)] = (f"noise robustness {name}", value)
    return out


def _cells(session: EvalSession, columns: list[EncoderColumn]) -> dict[str, Cells]:
    """Every encoder column's representation cells, store by store."""
    cfg = session.config
    by_store: dict[tuple, list[EncoderColumn]] = {}
    for c in columns:
        if c.encoder is not None and c.source is not None:
            by_store.setdefault(c.source.key, []).append(c)
    pixels: dict[tuple, np.ndarray] = {}
    out: dict[str, Cells] = {}
    for cols in by_store.values():
        src = cols[0].source
        assert src is not None
        batch = src.batch(cfg.split, HORIZON, cfg.max_samples, cfg.seed)
        for step in (0, 1):  # flattened pixels are large: once per store, shared by all columns
            pixels[src.key, step] = _pixels(batch["frames"], step, src.context, cfg.pixel_space)
        zs = [session.latents(c.encoder, src, cfg.split, HORIZON, cfg.max_samples, 0) for c in cols]
        out.update(_neighbourhoods(session, cols, zs, pixels[src.key, 0], batch))
        for c in cols:
            _column(session, c, pixels, out[c.label])
        for key in [k for k in pixels if k[0] == src.key]:
            del pixels[key]
    return out


def _collapse(z: np.ndarray) -> dict[str, float | None]:
    st = collapse_stats(z)
    return {
        "participation_ratio": st["participation_ratio"],
        "participation_ratio_frac": st["participation_ratio_frac"],
        "twonn": _safe(twonn_dimension, z),
        "effective_rank": st["effective_rank"],
        "effective_rank_frac": st["effective_rank_frac"],
        "dead_dims": st["dead_dims"],
        "std_mean": st["std_mean"],
        "std_min": st["std_min"],
        "latent_dim": float(z.shape[1]),
    }


def _tables(session: EvalSession) -> tuple[Table, Table]:
    """Both tables with every row declared (labels name k once it is known)."""
    cfg = session.config
    rep = Table(
        "representation",
        "Representation: neighbourhoods, smoothness, noise robustness",
        "Trustworthiness/continuity (sklearn definition, k-NN search, no N×N matrix) of the "
        "latent against flattened [0,1] pixels and against standardised RAM state variables "
        f"(subsample of ≤{cfg.neighbour_samples} {cfg.split}-split states). Smoothness: mean "
        "latent "
        "distance between consecutive states divided by the median pairwise latent distance, "
        "and that over the same quantity in pixel space. Noise robustness: latent displacement "
        "under Gaussian noise of std σ on the [0,1] image scale, divided by the median pairwise "
        "latent distance (0 for a constant encoder). [95% episode-bootstrap interval over the "
        "per-state values; for trustworthiness/continuity the neighbourhoods of the whole "
        "subsample are held fixed, and the distance scales of smoothness and noise too]",
        better="trustworthiness/continuity higher; smoothness and noise robustness lower "
        "(but check collapse: a constant encoder scores 0)",
    )
    for space, label in SPACES.items():
        for measure in ("trustworthiness", "continuity"):
            rep.add_row(neighbour_key(measure, space), f"{measure} vs {label}")
    for key, label in SMOOTHNESS.items():
        rep.add_row(key, label)
    for sigma in cfg.noise_sigmas:
        rep.add_row(noise_key(sigma), f"noise robustness sigma={sigma:g}")
    col = Table(
        "collapse",
        "Representation: global geometry and collapse",
        "Participation ratio (Σλ)²/Σλ² and effective rank (exp spectral entropy) of the latent "
        "covariance, also as a share of D; TwoNN intrinsic dimension N/Σlog(r2/r1) (Facco et "
        "al. 2017, duplicates removed); share of dimensions with std < 1% of the largest. "
        "These are statistics of the whole latent cloud with no per-window decomposition: they "
        "carry no interval, and the headline gives them no verdict.",
        better="higher rank / PR and fewer dead dims = less collapse",
    )
    for key, label in COLLAPSE.items():
        col.add_row(key, label)
    rep.split = col.split = cfg.split
    return rep, col


def _figures(session: EvalSession, rep: Table, noise_curves, dashed: set[str]) -> None:
    shown = [k for k in rep.rows if k.startswith(("trustworthiness/", "continuity/"))]
    shown = [k for k in shown if any(v is not None for v in rep.rows[k].values())]
    if shown:
        path = session.out_dir / "plots" / "neighbourhoods.png"
        bar_plot(
            {rep.label(k): rep.rows[k] for k in shown},
            path,
            ylabel="score (1 = preserved)",
            title="Trustworthiness / continuity vs pixels and RAM state",
        )
        session.figure("Neighbourhood preservation (random-init encoder as baseline)", path)
    if noise_curves:
        path = session.out_dir / "plots" / "noise_robustness.png"
        line_plot(
            {k: v for k, v in noise_curves.items() if v[0]},
            path,
            xlabel="noise std σ ([0,1] image scale)",
            ylabel="latent displacement / median pairwise distance",
            title="Noise robustness",
            dashed=dashed,
        )
        session.figure("Noise robustness (dashed: baselines)", path)


@probe("representation", order=10)
def run(session: EvalSession) -> list[Table]:
    """Fill the representation and collapse tables, plus the noise-robustness figure."""
    cfg = session.config
    rep, col = _tables(session)
    noise_curves: dict[str, tuple[list[float], list[float]]] = {}
    columns = session.encoder_columns()
    all_cells = _cells(session, columns)
    for c in columns:
        for t in (rep, col):
            t.add_column(c.label, baseline=c.baseline)
        if c.encoder is None or c.source is None:
            continue
        cells = all_cells[c.label]
        for key, (label, v) in cells.items():
            rep.add_row(key, label)
            rep.set(key, c.label, v)
        z = session.latents(c.encoder, c.source, cfg.split, HORIZON, cfg.max_samples, 0)
        col.scored_on(cfg.split, session.episodes(c.source, cfg.split, HORIZON, cfg.max_samples))
        for key, v in _collapse(z).items():
            col.set(key, c.label, v)
        sig = [s for s in cfg.noise_sigmas if noise_key(s) in cells]
        noise_curves[c.label] = (sig, [rep.value(noise_key(s), c.label) for s in sig])
    for t in (rep, col):
        if not t.baselines:
            t.add_column(RANDOM_INIT, baseline=True)
    _figures(session, rep, noise_curves, {c.label for c in columns if c.baseline})
    return [rep, col]
