"""Pixel reconstruction errors on the [0, 1] scale."""

from __future__ import annotations

import numpy as np

MAX_PSNR_DB = 100.0
CHANGE_THRESHOLD = 0.01  # on [0, 1]: ~2.5 grey levels, above the noise of a static pixel


def image_errors(
    target: np.ndarray, pred: np.ndarray, previous: np.ndarray | None = None
) -> dict[str, float]:
    """L1, MSE and PSNR between two image batches ``[N, ...]`` with values in [0, 1].

    PSNR is ``10 log10(1 / MSE_i)`` per image, averaged over images, capped at 100 dB so a
    perfect image does not turn the mean infinite.

    With ``previous`` (the frame before ``target``), also ``l1_changed``: the L1 over only the
    pixels that change (by more than ``CHANGE_THRESHOLD``), and ``changed_share``, their share.
    Atari frames are mostly static, so the plain L1 rewards copying; ``l1_changed`` asks whether
    the motion itself was predicted (copying scores the full size of each change there).
    """
    target = np.asarray(target, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if target.shape != pred.shape or target.ndim < 2:
        raise ValueError(f"pred: shape {pred.shape} does not match target {target.shape}")
    arrays = [("target", target), ("pred", pred)]
    if previous is not None:
        previous = np.asarray(previous, dtype=np.float64)
        if previous.shape != target.shape:
            raise ValueError(
                f"previous: shape {previous.shape} does not match target {target.shape}"
            )
        arrays.append(("previous", previous))
    for name, a in arrays:
        if a.min() < 0 or a.max() > 1:
            raise ValueError(f"{name}: values must be on the [0, 1] scale")
    diff = (pred - target).reshape(len(target), -1)
    mse_i = (diff**2).mean(axis=1)
    psnr = np.minimum(10 * np.log10(1.0 / np.maximum(mse_i, 1e-30)), MAX_PSNR_DB)
    out = {
        "l1": float(np.abs(diff).mean()),
        "mse": float(mse_i.mean()),
        "psnr": float(psnr.mean()),
    }
    if previous is not None:
        changed = np.abs(target - previous) > CHANGE_THRESHOLD
        out["changed_share"] = float(changed.mean())
        out["l1_changed"] = (
            float(np.abs(pred - target)[changed].mean()) if changed.any() else float("nan")
        )
    return out
