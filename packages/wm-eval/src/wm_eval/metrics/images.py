"""Pixel reconstruction errors on the [0, 1] scale."""

from __future__ import annotations

import numpy as np

MAX_PSNR_DB = 100.0


def image_errors(target: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """L1, MSE and PSNR between two image batches ``[N, ...]`` with values in [0, 1].

    PSNR is ``10 log10(1 / MSE_i)`` per image, averaged over images, capped at 100 dB so a
    perfect image does not turn the mean infinite.
    """
    target = np.asarray(target, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if target.shape != pred.shape or target.ndim < 2:
        raise ValueError(f"pred: shape {pred.shape} does not match target {target.shape}")
    for name, a in (("target", target), ("pred", pred)):
        if a.min() < 0 or a.max() > 1:
            raise ValueError(f"{name}: values must be on the [0, 1] scale")
    diff = (pred - target).reshape(len(target), -1)
    mse_i = (diff**2).mean(axis=1)
    psnr = np.minimum(10 * np.log10(1.0 / np.maximum(mse_i, 1e-30)), MAX_PSNR_DB)
    return {
        "l1": float(np.abs(diff).mean()),
        "mse": float(mse_i.mean()),
        "psnr": float(psnr.mean()),
    }
