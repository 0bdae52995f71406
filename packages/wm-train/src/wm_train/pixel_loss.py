"""Pixel losses of a predicted frame, and the static background the foreground-weighted ones need.

Atari frames are mostly static background: on Assault ~96% of the pixels of a frame equal the
per-pixel median of the training split. A plain L1 is then minimised by drawing that background
(the per-pixel median) and nothing else; MSE pulls towards the mean instead, which keeps faint
moving objects. The foreground-weighted losses weigh every pixel that differs from the
background by more than ``threshold`` (on the [0, 1] scale) ``1 + fg_weight`` times:

    loss = mean( (1 + fg_weight * [|target - background| > threshold]) * err(pred, target) )

with ``err`` the absolute (``foreground_l1``) or squared (``foreground_mse``) error.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PIXEL_LOSSES", "foreground_mask", "median_frame", "pixel_error", "train_frames"]

PIXEL_LOSSES = ("l1", "mse", "foreground_l1", "foreground_mse")


def foreground_mask(
    target: torch.Tensor, background: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Pixels of ``target`` [..., C, H, W] (on [0, 1]) farther than ``threshold`` from the
    background [C, H, W] (uint8 or [0, 1] float)."""
    bg = background.to(target.device)
    bg = bg.float() / 255.0 if bg.dtype == torch.uint8 else bg.float()
    return (target - bg).abs() > threshold


def pixel_error(
    pred: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    *,
    background: torch.Tensor | None = None,
    fg_weight: float = 0.0,
    threshold: float = 0.0,
) -> torch.Tensor:
    """Mean pixel loss ``kind`` (one of ``PIXEL_LOSSES``) over every element."""
    if kind == "l1":
        return F.l1_loss(pred.float(), target.float())
    if kind == "mse":
        return F.mse_loss(pred.float(), target.float())
    diff = pred.float() - target.float()
    err = diff.abs() if kind in ("l1", "foreground_l1") else diff.square()
    if kind.startswith("foreground"):
        if background is None:
            raise ValueError(
                f"pixel loss {kind!r} needs the training split's background frame; the Trainer "
                "measures it before the first step (loss.prepare(train_dataset))"
            )
        mask = foreground_mask(target.float(), background, threshold)
        err = err * (1.0 + fg_weight * mask.float())
    return err.mean()


def train_frames(dataset: object) -> Iterable[np.ndarray]:
    """Every frame of every episode of a ``wm_data.WindowDataset``'s split, episode by episode
    (read from its store, each frame once: windows repeat frames)."""
    reader = dataset.reader  # type: ignore[attr-defined]
    rows = reader.episodes[dataset.episode_ids]  # type: ignore[attr-defined]
    try:
        for row in rows:
            start = int(row["frame_start"])
            yield reader.read("frames", int(row["shard"]), start, start + int(row["length"]) + 1)
    finally:
        reader.close()


def median_frame(frames: Iterable[np.ndarray | torch.Tensor]) -> torch.Tensor:
    """Exact per-pixel (lower) median of uint8 frames [n, C, H, W] given in chunks: a 256-bin
    histogram per pixel, so the answer does not depend on how the frames are chunked or ordered.
    Returns uint8 [C, H, W]."""
    counts: torch.Tensor | None = None
    shape: tuple[int, ...] = ()
    for chunk in frames:
        block = torch.as_tensor(np.asarray(chunk))
        if block.dtype != torch.uint8:
            raise ValueError(f"median_frame expects uint8 frames, got {block.dtype}")
        if counts is None:
            shape = tuple(block.shape[1:])
            counts = torch.zeros(256, int(np.prod(shape)), dtype=torch.int64)
        flat = block.reshape(block.shape[0], -1).long()
        counts.scatter_add_(0, flat, torch.ones_like(flat))
    if counts is None:
        raise ValueError("median_frame: no frames (is the training split empty?)")
    need = (int(counts[:, 0].sum()) + 1) // 2  # the ceil(n/2)-th smallest value
    median = (counts.cumsum(0) < need).sum(0)
    return median.to(torch.uint8).reshape(shape)
