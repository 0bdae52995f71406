"""Object regions of a window: where a world model has to draw something other than background.

Two sources, unioned:

* **motion** (every game): pixels that change between any two consecutive frames of the
  window, dilated by a few pixels (``metrics.images.motion_regions``);
* **decoded RAM object boxes** (stores with RAM, games with a decoding map): the game's
  ``object_mask(ram [N, 128], frame_shape (H, W)) -> bool [N, H, W]``, found by
  ``object_mask_for(env_id)`` in the module named by ``OBJECT_MASK_MODULE`` (None for a game
  without a map, which keeps the motion regions alone).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from wm_eval.metrics.images import motion_regions

OBJECT_MASK_MODULE = "wm_eval.objects"
OBJECT_MASK_LOOKUP = "object_mask_for"
PIXELS_PER_DILATION = 32  # 1 px of dilation per 32 px of frame side: 2 px at 64x64

ObjectMask = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def ram_object_mask(env_id: str | None) -> ObjectMask | None:
    """The game's ``object_mask`` from the RAM decoders, or None (no decoder, no map)."""
    if not env_id:
        return None
    try:
        module = importlib.import_module(OBJECT_MASK_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != OBJECT_MASK_MODULE:
            raise
        return None
    lookup = getattr(module, OBJECT_MASK_LOOKUP, None)
    return None if lookup is None else lookup(env_id)


def ram_boxes(
    ram: np.ndarray, frame_shape: tuple[int, int], env_id: str | None
) -> np.ndarray | None:
    """Decoded object boxes ``[N, H, W]`` over the last two frames' RAM ``[N, S, 128]``, or
    None without a map for the game."""
    fn = ram_object_mask(env_id)
    if fn is None:
        return None
    ram = np.asarray(ram)
    boxes = [np.asarray(fn(ram[:, s], frame_shape), dtype=bool) for s in (-2, -1)]
    expected = (len(ram), *frame_shape)
    if boxes[0].shape != expected:
        raise ValueError(f"object_mask: shape {boxes[0].shape}, expected {expected}")
    return boxes[0] | boxes[1]


def default_dilation(frame_shape: tuple[int, ...]) -> int:
    """A few pixels, in proportion to the frame: 2 px at 64x64, 3 px at 84x84, at least 1."""
    return max(1, round(min(frame_shape[-2:]) / PIXELS_PER_DILATION))


def object_regions(
    frames: np.ndarray,
    ram: np.ndarray | None = None,
    env_id: str | None = None,
    dilation: int | None = None,
) -> tuple[np.ndarray, str]:
    """Object regions ``[N, H, W]`` of windows ``frames [N, S, C, H, W]`` in [0, 1] (with the
    store's RAM ``[N, S, 128]`` and env id where it has them), and how they were found."""
    if dilation is None:
        dilation = default_dilation(np.shape(frames))
    mask = motion_regions(frames, dilation)
    how = f"pixels that change between consecutive frames of the window, dilated by {dilation} px"
    boxes = None if ram is None else ram_boxes(ram, tuple(np.shape(frames)[-2:]), env_id)
    if boxes is not None:
        mask = mask | boxes
        how += ", united with the object boxes decoded from emulator RAM"
    return mask, how
