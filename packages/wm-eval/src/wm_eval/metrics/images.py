"""Pixel reconstruction errors on the [0, 1] scale."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

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


def _pair(target: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    target = np.asarray(target, dtype=np.float32)
    pred = np.asarray(pred, dtype=np.float32)
    if target.shape != pred.shape or target.ndim < 2:
        raise ValueError(f"pred: shape {pred.shape} does not match target {target.shape}")
    return target, pred


def window_errors(target: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window ``l1``, ``mse`` and ``psnr`` (capped at 100 dB) of two ``[N, ...]`` batches.

    One value per window, so a figure's interval can resample whole episodes of windows.
    """
    target, pred = _pair(target, pred)
    diff = (pred - target).reshape(len(target), -1).astype(np.float64)
    mse = (diff**2).mean(axis=1)
    psnr = np.minimum(10 * np.log10(1.0 / np.maximum(mse, 1e-30)), MAX_PSNR_DB)
    return {"l1": np.abs(diff).mean(axis=1), "mse": mse, "psnr": psnr}


def region_sums(
    target: np.ndarray, pred: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window sum of ``|pred - target|`` inside ``mask`` and the number of values summed.

    ``mask`` is ``[N, H, W]`` (a pixel location, all channels) or the full ``[N, C, H, W]``.
    The pooled L1 over any set of windows is ``sums.sum() / counts.sum()``: each changed or
    object pixel weighs the same, whichever window it is in.
    """
    target, pred = _pair(target, pred)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == target.ndim - 1:
        mask = mask[:, None]
    mask = np.broadcast_to(mask, target.shape)
    err = np.abs(pred - target) * mask
    counts = mask.reshape(len(mask), -1).sum(axis=1).astype(np.float64)
    return err.reshape(len(err), -1).sum(axis=1, dtype=np.float64), counts


def pooled_mean(sums: np.ndarray, counts: np.ndarray) -> float:
    """``sums.sum() / counts.sum()``; NaN for an empty region."""
    total = float(np.sum(counts))
    return float(np.sum(sums)) / total if total > 0 else float("nan")


def changed_pixels(previous: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Where ``target`` differs from ``previous`` by more than ``CHANGE_THRESHOLD`` (per value)."""
    previous, target = _pair(previous, target)
    return np.abs(target - previous) > CHANGE_THRESHOLD


def motion_regions(frames: np.ndarray, dilation: int = 2) -> np.ndarray:
    """Object regions of each window: pixels that change between any two consecutive frames
    of ``frames [N, S, C, H, W]``, any channel, dilated by ``dilation`` pixels -> ``[N, H, W]``.

    Moving sprites (player, enemies, missiles) are where a world model has to be right; the
    dilation covers a sprite's outline around the pixels that happened to change.
    """
    if np.ndim(frames) != 5 or np.shape(frames)[1] < 2:
        raise ValueError(f"frames: [N, S >= 2, C, H, W] expected, got shape {np.shape(frames)}")
    chunks = []
    for s in range(0, len(frames), 256):
        part = np.asarray(frames[s : s + 256], np.float32)
        chunks.append((np.abs(np.diff(part, axis=1)) > CHANGE_THRESHOLD).any(axis=(1, 2)))
    moved = np.concatenate(chunks)
    if dilation <= 0 or not moved.any():
        return moved
    size = 2 * dilation + 1
    structure = np.zeros((3, size, size), dtype=bool)
    structure[1] = True  # dilate within a frame, never across windows
    return ndimage.binary_dilation(moved, structure=structure)
