"""Scale-free local metrics of a latent space: smoothness, noise robustness, collapse.

Raw latent distances depend on each model's latent scale (an encoder whose outputs are ten
times larger looks ten times less smooth), so every distance here is divided by the median
pairwise distance of the same latent cloud, estimated on a random subsample of pairs. After
that normalisation, 1.0 means "as far apart as two typical states".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics.pairwise import euclidean_distances

from wm_eval.metrics._checks import as_2d, same_length
from wm_eval.metrics.intrinsic_dim import effective_rank, participation_ratio


def median_pairwise_distance(x: np.ndarray, *, max_pairs: int = 200_000, seed: int = 0) -> float:
    """Median Euclidean distance between distinct pairs of rows.

    Exact (every pair, from one distance matrix) when the rows have at most ``max_pairs``
    pairs; otherwise estimated on ``max_pairs`` random distinct pairs (O(max_pairs) memory).
    """
    x = as_2d(x, "x")
    n = len(x)
    if n < 2:
        raise ValueError(f"x: need at least 2 rows for pairwise distances, got {n}")
    if n * (n - 1) // 2 <= max_pairs:
        upper = np.triu_indices(n, k=1)
        # float64 in: one matrix product (sklearn upcasts float32 rows block by block, 3x
        # slower on 735 Assault context frames and far worse on a loaded machine)
        return float(np.median(euclidean_distances(x.astype(np.float64, copy=False))[upper]))
    rng = np.random.default_rng(seed)
    m = max_pairs
    i = rng.integers(0, n, size=m)
    j = (i + rng.integers(1, n, size=m)) % n  # j != i
    out = np.empty(m)
    step = max(1, 2**22 // max(1, x.shape[1]))
    for s in range(0, m, step):
        out[s : s + step] = _row_norms(x[i[s : s + step]], x[j[s : s + step]])
    return float(np.median(out))


def _row_norms(a: np.ndarray, b: np.ndarray, rows: int = 1024) -> np.ndarray:
    """``||a_i - b_i||``, computed in row blocks so large pixel arrays are not copied.

    float32 rows (pixel clouds) are subtracted and squared in float32 (a relative error near
    1e-7, far below any interval) and summed in float64: half the memory traffic.
    """
    out = np.empty(len(a))
    dtype = np.float32 if a.dtype == b.dtype == np.float32 else np.float64
    for s in range(0, len(a), rows):
        d = a[s : s + rows].astype(dtype, copy=False) - b[s : s + rows].astype(dtype, copy=False)
        out[s : s + rows] = np.sqrt((d * d).sum(axis=1, dtype=np.float64))
    return out


def _normalise(distances: np.ndarray, scale: float) -> np.ndarray:
    """Divide by ``scale``; a zero scale (constant encoder) maps 0 to 0 and the rest to inf."""
    if scale > 0:
        return distances / scale
    return np.where(distances == 0, 0.0, np.inf)


def smoothness_steps(
    z_t: np.ndarray,
    z_next: np.ndarray,
    x_t: np.ndarray | None = None,
    x_next: np.ndarray | None = None,
    *,
    scale_sample: int = 5000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Per-window steps behind :func:`smoothness`: ``latent`` (and with pixels ``pixel``).

    Each is ``||next - current||`` over the median pairwise distance of that space, the scale
    estimated once on a random subsample of ``scale_sample`` rows of ``z_t`` (the pixel scale
    as :func:`pixel_steps` takes it).
    """
    z_t, z_next = as_2d(z_t, "z_t"), as_2d(z_next, "z_next")
    same_length(z_t=z_t, z_next=z_next)
    rng = np.random.default_rng(seed)
    sub = rng.permutation(len(z_t))[:scale_sample]
    scale = median_pairwise_distance(z_t[sub], seed=seed)
    out = {"latent": _normalise(np.linalg.norm(z_next - z_t, axis=1), scale)}
    if x_t is not None and x_next is not None:
        same_length(z_t=z_t, x_t=x_t, x_next=x_next)
        out["pixel"] = pixel_steps(x_t, x_next, seed=seed)
    return out


PIXEL_SCALE_ROWS = 1000


def pixel_steps(
    x_t: np.ndarray, x_next: np.ndarray, *, scale_sample: int = PIXEL_SCALE_ROWS, seed: int = 0
) -> np.ndarray:
    """The ``pixel`` steps of :func:`smoothness_steps`: ``||x_next - x_t||`` over the median
    pairwise distance of ``x_t``.

    They depend on the pixels only, so several latents of one store share them, and so does
    the scale: it divides every latent's pixel ratio alike and cannot change a comparison
    between them. It is the exact median over every pair of at most ``scale_sample`` random
    rows, from one distance matrix: for rows of thousands of pixels a matrix product is far
    cheaper per pair than gathering random pairs (Assault 64×64×4 at 735 rows: 0.4 s for all
    269,745 pairs, 14 s for 200,000 random ones).
    """
    x_t, x_next = as_2d(x_t, "x_t"), as_2d(x_next, "x_next")
    same_length(x_t=x_t, x_next=x_next)
    sub = np.random.default_rng(seed).permutation(len(x_t))[:scale_sample]
    every_pair = len(sub) * (len(sub) - 1) // 2
    x_scale = median_pairwise_distance(x_t[sub], max_pairs=max(1, every_pair), seed=seed)
    return _normalise(_row_norms(x_next, x_t), x_scale)


def smoothness(
    z_t: np.ndarray,
    z_next: np.ndarray,
    x_t: np.ndarray | None = None,
    x_next: np.ndarray | None = None,
    *,
    scale_sample: int = 5000,
    seed: int = 0,
) -> dict[str, float]:
    """Latent step between consecutive states, normalised by the median pairwise latent distance.

    ``latent_step``: mean ``||z_{t+1} - z_t|| / median_pairwise(z)`` (lower = smoother;
    0 for a constant encoder). With pixels ``x_t``/``x_next`` also ``pixel_step`` (the same
    quantity in pixel space) and ``ratio = latent_step / pixel_step``: below 1 the latent moves
    less between consecutive states, relative to its spread, than the pixels do.
    The scale is estimated on a random subsample of ``scale_sample`` rows of ``z_t``.
    """
    steps = smoothness_steps(z_t, z_next, x_t, x_next, scale_sample=scale_sample, seed=seed)
    lat = steps["latent"]
    out = {"latent_step": float(lat.mean()), "latent_step_median": float(np.median(lat))}
    if "pixel" in steps:
        out["pixel_step"] = float(steps["pixel"].mean())
        out["ratio"] = step_ratio(lat, steps["pixel"])
    return out


def step_ratio(latent_steps: np.ndarray, pixel_steps: np.ndarray) -> float:
    """Mean latent step over mean pixel step (NaN when the pixels never move)."""
    pixel = float(np.mean(pixel_steps))
    return float(np.mean(latent_steps) / pixel) if pixel > 0 else float("nan")


def standard_noise(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Standard normal draws (float32): the noise every level of :func:`noise_displacements`
    scales, so several encoders of one store can share one draw."""
    return np.random.default_rng(seed).standard_normal(tuple(shape), dtype=np.float32)


def noise_displacements(
    encode: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    sigmas: Sequence[float] = (0.01, 0.05, 0.1),
    *,
    seed: int = 0,
    clean: np.ndarray | None = None,
    noise: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per image and per sigma: ``||f(x + noise) - f(x)|| / median_pairwise(f(x))``.

    ``images`` are floats on the [0, 1] scale (any shape ``[N, ...]``); noise of standard
    deviation ``sigma`` (same scale) is added and the result clipped back to [0, 1]. Every
    level scales one standard normal draw (``noise``, else :func:`standard_noise` of
    ``seed``), so the levels differ only in size. ``clean``: ``f(images)`` when already known
    (spares one pass of ``f``).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim < 2 or len(images) < 2:
        raise ValueError(f"images: expected [N>=2, ...] floats in [0, 1], got {images.shape}")
    if images.min() < 0 or images.max() > 1:
        raise ValueError("images: values must be on the [0, 1] scale")
    if noise is None:
        noise = standard_noise(images.shape, seed)
    elif np.shape(noise) != images.shape:
        raise ValueError(f"noise: shape {np.shape(noise)} differs from images {images.shape}")
    clean = as_2d(encode(images) if clean is None else clean, "encode(images)")
    scale = median_pairwise_distance(clean, seed=seed)
    out = {}
    for sigma in sigmas:
        if sigma < 0:
            raise ValueError(f"sigmas: must be >= 0, got {sigma}")
        noisy = np.clip(images + np.float32(sigma) * noise, 0, 1)
        moved = np.linalg.norm(as_2d(encode(noisy), "encode(noisy)") - clean, axis=1)
        out[f"sigma={sigma:g}"] = _normalise(moved, scale)
    return out


def noise_robustness(
    encode: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    sigmas: Sequence[float] = (0.01, 0.05, 0.1),
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Latent displacement under Gaussian pixel noise, normalised by the latent spread.

    Per sigma, the mean of :func:`noise_displacements`: 0 for a constant encoder, ~1 when
    noise moves a latent as far as the distance between two typical states.
    """
    moved = noise_displacements(encode, images, sigmas, seed=seed)
    return {name: float(v.mean()) for name, v in moved.items()}


def collapse_stats(z: np.ndarray, *, dead_fraction: float = 0.01) -> dict[str, float]:
    """Dimensional-collapse indicators of a latent cloud ``[N, D]``.

    ``std_mean``/``std_min``: per-dimension standard deviation (raw latent units, to spot a
    shrinking scale); ``dead_dims``: share of dimensions whose std is below ``dead_fraction``
    of the largest one (scale-free); ``effective_rank`` (exp spectral entropy) and
    ``participation_ratio``, both also as a share of D (``*_frac``), 1.0 = no collapse.
    """
    z = as_2d(z, "z").astype(np.float64)
    std = z.std(axis=0)
    top = float(std.max())
    d = z.shape[1]
    er = effective_rank(z)
    pr = participation_ratio(z)
    return {
        "std_mean": float(std.mean()),
        "std_min": float(std.min()),
        "dead_dims": float((std <= dead_fraction * top).mean()) if top > 0 else 1.0,
        "effective_rank": er,
        "effective_rank_frac": er / d,
        "participation_ratio": pr,
        "participation_ratio_frac": pr / d,
    }
