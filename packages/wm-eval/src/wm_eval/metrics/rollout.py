"""Open-loop latent rollout error, normalised by the latent variance."""

from __future__ import annotations

import numpy as np

from wm_eval.metrics._checks import as_2d, same_length


def normalised_latent_error(pred: np.ndarray, target: np.ndarray) -> float:
    """``mean ||pred - target||² / total variance of target``.

    Dividing by the summed per-dimension variance of the targets makes models with different
    latent scales comparable: 0 is perfect, 1 is as bad as always predicting the mean latent.
    A constant target (zero variance) gives 0 when matched exactly, otherwise inf.
    """
    pred, target = as_2d(pred, "pred"), as_2d(target, "target")
    same_length(pred=pred, target=target)
    if pred.shape != target.shape:
        raise ValueError(f"pred: shape {pred.shape} does not match target {target.shape}")
    err = float(((pred.astype(np.float64) - target) ** 2).sum(axis=1).mean())
    var = float(target.astype(np.float64).var(axis=0).sum())
    if var == 0:
        return 0.0 if err == 0 else float("inf")
    return err / var


def squared_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-window ``‖pred − target‖²`` of two ``[N, D]`` latent batches."""
    pred, target = as_2d(pred, "pred"), as_2d(target, "target")
    same_length(pred=pred, target=target)
    if pred.shape != target.shape:
        raise ValueError(f"pred: shape {pred.shape} does not match target {target.shape}")
    return ((pred.astype(np.float64) - target) ** 2).sum(axis=1)


def error_over_variance(errors: np.ndarray, target: np.ndarray) -> float:
    """``mean(errors) / total variance of target``: ``normalised_latent_error`` from per-window
    squared errors, so a bootstrap can recompute numerator and denominator together."""
    err = float(np.mean(errors))
    var = float(np.asarray(target, dtype=np.float64).var(axis=0).sum())
    if var == 0:
        return 0.0 if err == 0 else float("inf")
    return err / var
