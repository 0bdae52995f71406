"""Ridge regression with the penalty chosen by exact leave-one-out, from the p × p Gram matrix.

The read-outs of wm-eval are tall (thousands of windows, at most ~1,000 features: a latent,
or 16×16 pooled context frames). sklearn's ``RidgeCV`` decomposes such a design by a thin SVD
of the n × p matrix, whose cost is dominated by the n × p orthogonal factor; the same
leave-one-out errors follow from the eigendecomposition of ``XᵀX`` (one BLAS product and a
p × p ``eigh``), measured 7x cheaper on 8,000 × 1,024 pooled Assault frames (0.4 s vs 3.0 s,
one thread). The estimator below is that computation behind sklearn's estimator interface,
so it drops into the same pipelines; its fits match ``RidgeCV(alphas, gcv_mode='svd')``
(tests/test_ridge.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class GramRidgeCV(RegressorMixin, BaseEstimator):
    """Ridge with an unpenalised intercept; ``alpha_`` minimises the mean squared leave-one-out
    error on the training rows (per target when ``alpha_per_target``).

    With centred ``X`` (n × p) and ``XᵀX = V diag(λ) Vᵀ``, ``Q = X V``: the fit is
    ``coef = V diag(1/(λ+α)) Qᵀ y``, the hat matrix's diagonal ``1/n + Σ_j Q_ij² / (λ_j+α)``,
    and the leave-one-out residual ``(y_i − ŷ_i) / (1 − h_ii)``, for every α from one
    decomposition.
    """

    def __init__(
        self, alphas: Sequence[float] = (0.1, 1.0, 10.0), alpha_per_target: bool = False
    ) -> None:
        self.alphas = alphas
        self.alpha_per_target = alpha_per_target

    def fit(self, x: np.ndarray, y: np.ndarray) -> GramRidgeCV:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        alphas = np.asarray(self.alphas, dtype=np.float64).ravel()
        if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
            raise ValueError(
                f"GramRidgeCV: x {x.shape} and y {y.shape} must be [n>=2, p] and [n(, t)]"
            )
        if len(alphas) == 0 or (alphas <= 0).any():
            raise ValueError(f"GramRidgeCV: alphas must be positive, got {self.alphas!r}")
        flat = y.ndim == 1
        y2 = y[:, None] if flat else y
        x_mean, y_mean = x.mean(axis=0), y2.mean(axis=0)
        xc, yc = x - x_mean, y2 - y_mean
        eigvals, eigvecs = np.linalg.eigh(xc.T @ xc)
        eigvals = np.clip(eigvals, 0.0, None)  # round-off below zero on collinear features
        q = xc @ eigvecs
        q_y = q.T @ yc  # [p, t]
        q_sq = q * q
        errors = np.empty((len(alphas), y2.shape[1]))
        for i, alpha in enumerate(alphas):
            shrink = 1.0 / (eigvals + alpha)
            fitted = q @ (shrink[:, None] * q_y)
            leverage = 1.0 / len(x) + q_sq @ shrink
            errors[i] = np.mean(((yc - fitted) / (1.0 - leverage)[:, None]) ** 2, axis=0)
        if self.alpha_per_target:
            best = np.argmin(errors, axis=0)
        else:
            best = np.full(y2.shape[1], np.argmin(errors.mean(axis=1)))
        shrink = 1.0 / (eigvals[:, None] + alphas[best][None, :])  # [p, t]
        coef = eigvecs @ (shrink * q_y)  # [p, t]
        self.coef_ = coef[:, 0] if flat else coef.T
        self.intercept_ = (y_mean - x_mean @ coef)[0] if flat else y_mean - x_mean @ coef
        chosen = alphas[best]
        self.alpha_ = chosen if self.alpha_per_target and not flat else float(chosen[0])
        self.n_features_in_ = x.shape[1]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x @ self.coef_.T + self.intercept_
