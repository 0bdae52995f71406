"""Reward-prediction metrics for sparse Atari rewards."""

from __future__ import annotations

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
from wm_eval.stats import Measurement, from_weights, r2_parts


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


def _tie_groups(labels: np.ndarray, scores: np.ndarray, *, descending: bool):
    """Windows sorted by score, their labels, and where each run of tied scores starts."""
    labels = np.asarray(labels, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    same_length(labels=labels, scores=scores)
    order = np.argsort(-scores if descending else scores, kind="stable")
    s = scores[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if len(s) else np.zeros(0, np.int64)
    return order, labels[order], starts


def _grouped(w: np.ndarray, order, y, starts) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative weight of each tie group, for every row of weights ``[R, N]``."""
    w = np.asarray(w, dtype=np.float64)[:, order]
    pos = np.add.reduceat(np.where(y, w, 0.0), starts, axis=1)
    return pos, np.add.reduceat(np.where(y, 0.0, w), starts, axis=1)


def weighted_auroc(labels: np.ndarray, scores: np.ndarray):
    """:func:`auroc` of many weightings of the windows at once: window weights ``[R, N]`` ->
    ``[R]`` (a weight w counts the window w times; NaN where a class has no weight)."""
    order, y, starts = _tie_groups(labels, scores, descending=False)

    def statistic(w: np.ndarray) -> np.ndarray:
        pos, neg = _grouped(w, order, y, starts)
        below = np.cumsum(neg, axis=1) - neg  # negatives scored strictly lower
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        ok = (n_pos > 0) & (n_neg > 0)
        hits = (pos * (below + 0.5 * neg)).sum(axis=1)
        return np.where(ok, hits / np.where(ok, n_pos * n_neg, 1.0), np.nan)

    return statistic


def weighted_average_precision(labels: np.ndarray, scores: np.ndarray):
    """:func:`average_precision` (sklearn's step-wise sum) of many weightings at once:
    window weights ``[R, N]`` -> ``[R]``, NaN where the positives have no weight."""
    order, y, starts = _tie_groups(labels, scores, descending=True)

    def statistic(w: np.ndarray) -> np.ndarray:
        tp, fp = _grouped(w, order, y, starts)
        tp_cum, fp_cum = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
        said = tp_cum + fp_cum
        precision = np.where(said > 0, tp_cum / np.where(said > 0, said, 1.0), 0.0)
        total = tp_cum[:, -1] if tp.shape[1] else np.zeros(len(tp))
        ap = (tp * precision).sum(axis=1)
        return np.where(total > 0, ap / np.where(total > 0, total, 1.0), np.nan)

    return statistic


def auroc_measurement(labels: np.ndarray, scores: np.ndarray, episodes: np.ndarray) -> Measurement:
    """:func:`auroc` as a measurement whose bootstrap runs on window weights (every resample at
    once, the same values as recomputing it per resample)."""
    labels, scores = np.asarray(labels, dtype=bool).ravel(), np.asarray(scores).ravel()
    m = Measurement.of(auroc, episodes, labels, scores)
    m.counted = from_weights(weighted_auroc(labels, scores), m.episodes)
    return m


def average_precision_measurement(
    labels: np.ndarray, scores: np.ndarray, episodes: np.ndarray
) -> Measurement:
    """:func:`average_precision` as a measurement bootstrapped on window weights."""
    labels, scores = np.asarray(labels, dtype=bool).ravel(), np.asarray(scores).ravel()
    m = Measurement.of(average_precision, episodes, labels, scores)
    m.counted = from_weights(weighted_average_precision(labels, scores), m.episodes)
    return m


def _r2(true: np.ndarray, pred: np.ndarray) -> float:
    return float(r2_score(true, pred)) if np.var(true) > 0 else float("nan")


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
    nz = (true != 0).astype(np.float64)
    episodes = np.asarray(episodes)
    r2 = Measurement.of(_r2, episodes, true, pred)
    r2.parts = r2_parts(true, pred, np.ones(len(true), dtype=bool), episodes)
    return {
        "mse": Measurement.mean(err**2, episodes),
        "mae": Measurement.mean(np.abs(err), episodes),
        "r2": r2,
        "mse_nonzero": Measurement.pooled(err**2 * nz, nz, episodes),
        "mae_nonzero": Measurement.pooled(np.abs(err) * nz, nz, episodes),
        "auroc_positive": auroc_measurement(true > 0, pred, episodes),
    }
