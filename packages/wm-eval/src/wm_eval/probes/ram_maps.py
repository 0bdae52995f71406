"""Semantic state variables read from the 128-byte Atari RAM.

Indices are into ALE's RAM array (address - 0x80). For Assault we use the published
OCAtari RAM map; other games fall back to the RAM bytes with the highest variance on the
training windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wm_data.envs import game_name


@dataclass(frozen=True)
class StateVariable:
    """One probe target: a name, how to read it from RAM rows ``[N, 128]``, and its type."""

    name: str
    read: Callable[[np.ndarray], np.ndarray]
    categorical: bool = False


def _byte(i: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda ram: ram[:, i].astype(np.float64)


def _bcd(ram: np.ndarray, i: int) -> np.ndarray:
    b = ram[:, i].astype(np.int64)
    return (b >> 4) * 10 + (b & 0x0F)


def assault_score(ram: np.ndarray) -> np.ndarray:
    """Score as packed BCD: RAM[0] high, RAM[1] middle, RAM[2] low pair of digits (ALE Assault)."""
    return (_bcd(ram, 0) * 10_000 + _bcd(ram, 1) * 100 + _bcd(ram, 2)).astype(np.float64)


ASSAULT: tuple[StateVariable, ...] = (
    StateVariable("score", assault_score),
    StateVariable("player_x", _byte(16)),
    *(StateVariable(f"enemy_x[{j}]", _byte(33 + j)) for j in range(3)),
    *(StateVariable(f"enemy_present[{j}]", _byte(54 + j), categorical=True) for j in range(3)),
    StateVariable("missile_x", _byte(39)),
    StateVariable("missile_y", _byte(67)),
    StateVariable("mothership_x", _byte(69)),
    *(StateVariable(f"heat[{j}]", _byte(28 + j)) for j in range(2)),
    StateVariable("lives", _byte(101), categorical=True),
)

# Keyed by wm-data's own name of each game, so the lookup follows whatever form it returns.
RAM_MAPS: dict[str, tuple[StateVariable, ...]] = {game_name("ALE/Assault-v5"): ASSAULT}

MAX_CATEGORIES = 10


def select_variables(env_id: str, train_ram: np.ndarray, top_bytes: int) -> list[StateVariable]:
    """The game's RAM map, or its ``top_bytes`` highest-variance bytes on ``train_ram``.

    A generic byte with at most ``MAX_CATEGORIES`` distinct values is probed as categorical.
    """
    known = RAM_MAPS.get(game_name(env_id))
    if known is not None:
        return list(known)
    ram = np.asarray(train_ram)
    if ram.ndim != 2 or ram.shape[1] != 128:
        raise ValueError(f"train_ram: expected [N, 128] bytes, got {ram.shape}")
    var = ram.astype(np.float64).var(axis=0)
    order = [int(i) for i in np.argsort(-var, kind="stable") if var[i] > 0][:top_bytes]
    return [
        StateVariable(
            f"ram[{i}]", _byte(i), categorical=len(np.unique(ram[:, i])) <= MAX_CATEGORIES
        )
        for i in sorted(order)
    ]


def state_matrix(
    ram: np.ndarray, variables: list[StateVariable], train_ram: np.ndarray
) -> np.ndarray:
    """Variables stacked as columns, standardised with the train statistics (constant ones dropped).

    This is the semantic reference space for trustworthiness/continuity: neighbours in game
    state rather than in pixels.
    """
    cols, ref = [], []
    for v in variables:
        cols.append(v.read(ram))
        ref.append(v.read(train_ram))
    x, r = np.stack(cols, axis=1), np.stack(ref, axis=1)
    std = r.std(axis=0)
    keep = std > 0
    if not keep.any():
        raise ValueError("ram: every state variable is constant on the training windows")
    return (x[:, keep] - r[:, keep].mean(axis=0)) / std[keep]
