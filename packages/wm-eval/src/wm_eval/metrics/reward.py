"""Reward-prediction metrics for sparse Atari rewards."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score, roc_auc_score

from wm_eval.metrics._checks import same_length


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
