"""Global shape of a latent cloud: TwoNN intrinsic dimension and participation ratio."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from wm_eval.metrics._checks import as_2d


def twonn_dimension(x: np.ndarray, *, discard_fraction: float = 0.0) -> float:
    """TwoNN maximum-likelihood intrinsic dimension (Facco et al. 2017): ``N / sum(log(r2/r1))``.

    ``r1``/``r2`` are each point's first and second nearest-neighbour distances. Duplicate
    points are removed first (they give ``r1 = 0`` and an infinite ratio). The estimate needs
    only the two nearest neighbours per point (a tree/brute kNN search, no N x N matrix), so
    it scales to tens of thousands of points. ``discard_fraction`` drops that share of the
    largest ratios (Facco's guard against outliers); 0 gives the plain MLE.
    """
    x = np.unique(as_2d(x, "x").astype(np.float64), axis=0)
    if len(x) < 3:
        raise ValueError(f"x: TwoNN needs at least 3 distinct points, got {len(x)}")
    if not 0.0 <= discard_fraction < 1.0:
        raise ValueError(f"discard_fraction must be in [0, 1), got {discard_fraction}")
    dist, _ = NearestNeighbors(n_neighbors=3).fit(x).kneighbors(x)
    r1, r2 = dist[:, 1], dist[:, 2]
    log_mu = np.sort(np.log(r2 / r1))
    keep = len(log_mu) - int(np.floor(discard_fraction * len(log_mu)))
    log_mu = log_mu[:keep]
    total = float(log_mu.sum())
    return float("inf") if total == 0.0 else float(len(log_mu) / total)


def centred_singular_values(x: np.ndarray) -> np.ndarray:
    """Singular values of the centred cloud (descending), rounding error set to exactly 0.

    Centring a constant column of value ``c`` leaves residues of order ``eps * |c|``, whose
    singular values would make a constant cloud look one-dimensional. Values below
    ``max(N, D) * eps * sqrt(N) * max|x|`` (the size such residues reach) are therefore 0, so a
    constant (or all-zero) cloud has no spectrum at all.
    """
    x = as_2d(x, "x").astype(np.float64)
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    scale = float(np.abs(x).max()) if x.size else 0.0
    tol = max(x.shape) * np.finfo(np.float64).eps * np.sqrt(len(x)) * scale
    return np.where(s > tol, s, 0.0)


def covariance_spectrum(x: np.ndarray) -> np.ndarray:
    """Eigenvalues of the sample covariance (descending), from singular values of centred data."""
    x = as_2d(x, "x")
    if len(x) < 2:
        raise ValueError(f"x: need at least 2 samples, got {len(x)}")
    s = centred_singular_values(x)
    return s**2 / (len(x) - 1)


def participation_ratio(x: np.ndarray) -> float:
    """``(sum λ)^2 / sum λ^2`` of the covariance eigenvalues: ≈ D isotropic, ≈ 1 on a line.

    Scale-free, so it compares latents of different magnitude; 0 for a constant cloud.
    """
    lam = covariance_spectrum(x)
    denom = float((lam**2).sum())
    return 0.0 if denom == 0.0 else float(lam.sum() ** 2 / denom)


def effective_rank(x: np.ndarray) -> float:
    """Roy & Vetterli (2007) effective rank: ``exp`` of the entropy of normalised singular values.

    Used by RankMe (Garrido et al. 2023) as a collapse indicator: 1 for a line, D when all
    directions carry equal variance, 0 for a constant (or all-zero) cloud, whatever its value
    (the rule wm-train's training diagnostics follow too).
    """
    s = centred_singular_values(x)
    total = float(s.sum())
    if total == 0.0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))
