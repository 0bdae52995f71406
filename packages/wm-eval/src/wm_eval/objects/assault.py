"""Assault's emulator RAM decoded into on-screen objects and quantities.

The RAM map (which byte holds what) is OCAtari's published map for Assault (Delfosse et al.
2023, ``ocatari/ram/assault.py``). Horizontal positions are stored as a coarse/fine code:
the low nibble picks a 15-pixel column from a table and bits 4-6 step back 0-7 pixels, so the
raw byte is far from linear in the on-screen x (r² ≈ 0.03 for the player). The heat gauge is
a bar drawn from two bit masks. Everything here is in the emulator's 210×160 screen; the
player missile's row code was measured against rendered frames (see ``MISSILE_ROWS``).

Indices are into ALE's 128-byte RAM array (address − 0x80).
"""

from __future__ import annotations

import numpy as np

SCREEN = (210, 160)  # (height, width) of the emulator frame
TABLE = np.array([3, 3, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 3, 3, 3, 3])
TABLE128 = np.array([11, 11, 23, 38, 53, 68, 83, 98, 113, 128, 143, 158, 11, 11, 11, 11])

PLAYER, MOTHERSHIP, ENEMIES, MISSILE_X, MISSILE_Y = 16, 69, (33, 34, 35), 39, 67
ENEMY_ALIVE = (54, 55, 56)
HEAT, HEAT_COLOUR, OVERHEAT, LIVES, SCORE = (28, 29), 21, 70, 101, (0, 1, 2)

PLAYER_Y, MOTHERSHIP_Y = 178, 18
ENEMY_Y = (103, 78, 53)  # enemy j's top row: 103 − 25 j
MISSILE_IDLE = 127  # RAM[67] when no player missile is in flight
# RAM[67] -> top row of the player missile. It moves 8 codes a step; below the enemy rows
# the row is code + 64, inside them the code steps through the three 25-pixel enemy bands.
# Measured on 4000 ALE frames (modal top row of the missile's column); 7 and 119 are never
# visible (behind the mothership and the player) and are extrapolated.
MISSILE_ROWS = {
    7: 45, 15: 52, 23: 59, 31: 77, 39: 82, 47: 102, 55: 105, 63: 127,
    71: 135, 79: 143, 87: 151, 95: 159, 103: 167, 111: 175, 119: 183,
}  # fmt: skip

# Object sizes (height, width) in screen pixels; the player box includes the row its
# missile leaves from, the mothership box its one-row bob.
SIZES = {"player": (12, 8), "mothership": (18, 32), "enemy": (8, 16), "missile": (8, 1)}
PLAYER_TOP, MOTHERSHIP_TOP = PLAYER_Y - 3, MOTHERSHIP_Y - 2


def decode_x(code: np.ndarray, shift: int = 0) -> np.ndarray:
    """Screen x of a coarse/fine position byte: ``table[(b - shift) % 16] - (b // 16) % 8``.

    Bytes below 128 use ``TABLE`` (negative results wrap to the right edge), bytes from 128
    on ``TABLE128``. The mothership's byte is read with ``shift=1``.
    """
    b = np.asarray(code).astype(np.int64)
    idx = (b - shift) % 16
    x = np.where(b < 128, TABLE[idx], TABLE128[idx]) - (b // 16) % 8
    return np.where(x < 0, x + SCREEN[1], x)


def encode_x(x: int, shift: int = 0) -> int:
    """The smallest byte that ``decode_x`` maps to screen x (for tests and synthetic RAM)."""
    codes = np.flatnonzero(decode_x(np.arange(256), shift) == x)
    if len(codes) == 0:
        raise ValueError(f"x={x}: no position byte decodes to it")
    return int(codes[0])


def popcount(b: np.ndarray) -> np.ndarray:
    """Set bits per byte."""
    return np.unpackbits(np.asarray(b, dtype=np.uint8)[..., None], axis=-1).sum(-1)


def bcd(b: np.ndarray) -> np.ndarray:
    """Two decimal digits packed in a byte."""
    b = np.asarray(b).astype(np.int64)
    return (b >> 4) * 10 + (b & 0x0F)


def _rows(ram: np.ndarray) -> np.ndarray:
    ram = np.asarray(ram)
    if ram.ndim != 2 or ram.shape[1] != 128:
        raise ValueError(f"ram: expected [N, 128] bytes, got {ram.shape}")
    return ram


def missile_row(code: np.ndarray) -> np.ndarray:
    """Top screen row of the player missile from RAM[67] (NaN while none is in flight)."""
    code = np.asarray(code).astype(np.int64)
    lut = np.full(256, np.nan)
    for c, y in MISSILE_ROWS.items():
        lut[c] = y
    return lut[code]


def decode(ram: np.ndarray) -> dict[str, np.ndarray]:
    """Every decoded quantity of ``ram`` rows ``[N, 128]``, one array per name.

    ``enemy_x``/``enemy_present`` are ``[N, 3]`` (enemy j's row is ``ENEMY_Y[j]``); the
    missile's x/y mean something only where ``missile_active``; ``heat`` is the gauge's
    width in 4-pixel units; ``lives`` is RAM[101] (reserve icons shown: ``lives - 1``).
    """
    ram = _rows(ram)
    code = ram[:, MISSILE_Y].astype(np.int64)
    row = missile_row(code)
    return {
        "player_x": decode_x(ram[:, PLAYER]),
        "enemy_x": decode_x(ram[:, list(ENEMIES)]),
        "enemy_present": ram[:, list(ENEMY_ALIVE)] != 0,
        "mothership_x": decode_x(ram[:, MOTHERSHIP], shift=1),
        "missile_x": decode_x(ram[:, MISSILE_X]) - 1,
        "missile_y": np.where(np.isnan(row), 0, row).astype(np.int64),
        "missile_active": ~np.isnan(row),
        "heat": popcount(ram[:, HEAT[0]]) + popcount(ram[:, HEAT[1]]),
        "overheat": ram[:, HEAT_COLOUR] == OVERHEAT,
        "lives": ram[:, LIVES].astype(np.int64),
        "score": bcd(ram[:, 0]) * 10_000 + bcd(ram[:, 1]) * 100 + bcd(ram[:, 2]),
    }


def object_boxes(ram: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Screen boxes ``[N, 4]`` as (top, left, height, width) and visibility ``[N]`` per object.

    Objects: ``player``, ``mothership``, ``enemy[0..2]`` (visible when present) and
    ``missile`` (visible while in flight). A box may run past the right edge; the screen wraps.
    """
    d = decode(ram)
    n = len(d["player_x"])
    ones = np.ones(n, dtype=bool)

    def box(top: np.ndarray | int, left: np.ndarray, kind: str) -> np.ndarray:
        h, w = SIZES[kind]
        top = np.broadcast_to(np.asarray(top, dtype=np.int64), (n,))
        return np.stack([top, left, np.full(n, h), np.full(n, w)], axis=1)

    out = {
        "player": (box(PLAYER_TOP, d["player_x"], "player"), ones),
        "mothership": (box(MOTHERSHIP_TOP, d["mothership_x"], "mothership"), ones),
    }
    for j, y in enumerate(ENEMY_Y):
        out[f"enemy[{j}]"] = (box(y, d["enemy_x"][:, j], "enemy"), d["enemy_present"][:, j])
    out["missile"] = (box(d["missile_y"], d["missile_x"], "missile"), d["missile_active"])
    return out


def object_mask(ram: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``[N, H, W]`` (or ``[H, W]`` for one RAM row): the pixels of a stored frame of
    shape ``frame_shape`` covered by a visible object (player, enemies, mothership, missile).

    Screen boxes are scaled from 210×160 to H×W (the store resizes the whole frame) and a
    stored pixel counts when any part of it overlaps a box; the screen wraps horizontally.
    For scoring reconstruction inside object regions, separately from the background.
    """
    ram = np.asarray(ram)
    single = ram.ndim == 1
    rows = _rows(ram[None] if single else ram)
    H, W = (int(s) for s in frame_shape)
    sy, sx = H / SCREEN[0], W / SCREEN[1]
    mask = np.zeros((len(rows), H, W), dtype=bool)
    for boxes, visible in object_boxes(rows).values():
        for i in np.flatnonzero(visible):
            top, left, h, w = (int(v) for v in boxes[i])
            y0, y1 = int(np.floor(top * sy)), int(np.ceil(min(top + h, SCREEN[0]) * sy))
            y0 = max(y0, 0)
            for a, b in _wrapped(left, left + w):
                mask[i, y0:y1, int(np.floor(a * sx)) : int(np.ceil(b * sx))] = True
    return mask[0] if single else mask


def _wrapped(left: int, right: int) -> list[tuple[int, int]]:
    """Column span ``[left, right)`` split at the screen's right edge."""
    width = SCREEN[1]
    a, w = left % width, min(right - left, width)
    if a + w <= width:
        return [(a, a + w)]
    return [(a, width), (0, a + w - width)]
