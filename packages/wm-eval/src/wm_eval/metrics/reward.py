"""Reward-prediction metrics for sparse Atari rewards."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import (
    average_precision_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from wm_eval.metrics._checks import same_length
from wm_eval.stats import Measurement


def reward_metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MSE, MAE, R² over all steps, plus MSE/MAE on steps with a non-zero true reward and
    the AUROC of the prediction as a score for "reward > 0".

    Atari rewards are mostly zero, so a head that always predicts 0 gets a small MSE; the
    non-zero-step error and the AUROC show whether it ever sees a reward coming. Undefined
    entries (no non-zero step, a single class, constant targets) are ``nan``.
    """
    true = np.asarray(true, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    same_length(true=true, pred=pred)
    if len(true) == 0:
        raise ValueError("true: no samples")
    if not np.isfinite(pred).all():
        raise ValueError("pred: contains NaN or inf")
    nan = float("nan")
    nz = true != 0
    pos = true > 0
    return {
        "mse": float(mean_squared_error(true, pred)),
        "mae": float(mean_absolute_error(true, pred)),
        "r2": float(r2_score(true, pred)) if np.var(true) > 0 else nan,
        "mse_nonzero": float(mean_squared_error(true[nz], pred[nz])) if nz.any() else nan,
        "mae_nonzero": float(mean_absolute_error(true[nz], pred[nz])) if nz.any() else nan,
        "auroc_positive": float(roc_auc_score(pos, pred)) if 0 < pos.sum() < len(pos) else nan,
        "n": len(true),
        "n_nonzero": int(nz.sum()),
    }


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for boolean ``labels`` (ties count half).

    The Mann-Whitney form on average ranks (equal to ``roc_auc_score``), fast enough to be
    recomputed on every bootstrap resample; NaN when one class is absent.
    """
    labels = np.asarray(labels, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    same_length(labels=labels, scores=scores)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """sklearn's average precision of ``scores`` for boolean ``labels``; NaN without positives."""
    labels = np.asarray(labels, dtype=bool).ravel()
    if not labels.any():
        return float("nan")
    return float(average_precision_score(labels, scores))


def _r2(true: np.ndarray, pred: np.ndarray) -> float:
    return float(r2_score(true, pred)) if np.var(true) > 0 else float("nan")


def _on_nonzero(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[..., float]:
    def stat(true: np.ndarray, pred: np.ndarray) -> float:
        nz = true != 0
        return float(fn(true[nz] - pred[nz]).mean()) if nz.any() else float("nan")

    return stat


def reward_measurements(
    true: np.ndarray, pred: np.ndarray, episodes: np.ndarray
) -> dict[str, Measurement]:
    """The figures of :func:`reward_metrics` as ``Measurement`` s over the windows' episodes.

    Each one can be resampled by episode (95% interval) and paired with another prediction of
    the same windows (a constant, another head, the copied latent).
    """
    true = np.asarray(true, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    same_length(true=true, pred=pred)
    if not np.isfinite(pred).all():
        raise ValueError("pred: contains NaN or inf")
    err = true - pred
    return {
        "mse": Measurement.mean(err**2, episodes),
        "mae": Measurement.mean(np.abs(err), episodes),
        "r2": Measurement.of(_r2, episodes, true, pred),
        "mse_nonzero": Measurement.of(_on_nonzero(np.square), episodes, true, pred),
        "mae_nonzero": Measurement.of(_on_nonzero(np.abs), episodes, true, pred),
        "auroc_positive": Measurement.of(lambda t, p: auroc(t > 0, p), episodes, true, pred),
    }
