"""Semantic state variables read from the 128-byte Atari RAM, grouped by category.

For a game with a decoding map (Assault: ``wm_eval.objects.assault``, after OCAtari's RAM
map) the variables are on-screen quantities: positions in screen pixels, the heat gauge's
width, lives, the score as shown. They are grouped into AtariARI's categories (Anand et al.
2019): agent, enemies, missiles, resources, score. A variable may be defined on some rows
only (an enemy's x where that enemy is alive, the missile's position while it flies).

A game without a map gets its highest-variance raw bytes, in the category
``RAW_CATEGORY``: packed codes are not linear in what they encode, so these serve only as a
neighbourhood reference, never as an object-level probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wm_data.envs import game_name
from wm_eval.objects import assault

Reader = Callable[[np.ndarray], np.ndarray]
CATEGORIES = ("agent", "enemies", "missiles", "resources", "score")
RAW_CATEGORY = "raw RAM bytes (no decoding map)"


@dataclass(frozen=True)
class StateVariable:
    """One probe target: a name, how to read it from RAM rows ``[N, 128]``, its type and
    category, and (optionally) on which rows it has a value."""

    name: str
    read: Reader
    categorical: bool = False
    category: str = RAW_CATEGORY
    defined: Reader | None = None

    def where(self, ram: np.ndarray) -> np.ndarray:
        """Boolean ``[N]``: the rows on which the variable is defined (all, by default)."""
        if self.defined is None:
            return np.ones(len(ram), dtype=bool)
        return np.asarray(self.defined(ram), dtype=bool)


def _byte(i: int) -> Reader:
    return lambda ram: ram[:, i].astype(np.float64)


def _field(key: str, col: int | None = None) -> Reader:
    def read(ram: np.ndarray) -> np.ndarray:
        v = assault.decode(ram)[key]
        return (v if col is None else v[:, col]).astype(np.float64)

    return read


def assault_score(ram: np.ndarray) -> np.ndarray:
    """The score shown on screen: packed BCD, RAM[0] high, RAM[1] middle, RAM[2] low digits."""
    return _field("score")(ram)


def _assault() -> tuple[StateVariable, ...]:
    enemies = []
    for j in range(3):
        present = _field("enemy_present", j)
        enemies.append(
            StateVariable(f"enemy_x[{j}]", _field("enemy_x", j), False, "enemies", present)
        )
    in_flight = _field("missile_active")
    return (
        StateVariable("player_x", _field("player_x"), category="agent"),
        *enemies,
        *(
            StateVariable(f"enemy_present[{j}]", _field("enemy_present", j), True, "enemies")
            for j in range(3)
        ),
        StateVariable("mothership_x", _field("mothership_x"), category="enemies"),
        StateVariable("missile_x", _field("missile_x"), False, "missiles", in_flight),
        StateVariable("missile_y", _field("missile_y"), False, "missiles", in_flight),
        StateVariable("missile_active", in_flight, True, "missiles"),
        StateVariable("heat", _field("heat"), category="resources"),
        StateVariable("overheat", _field("overheat"), True, "resources"),
        StateVariable("lives", _field("lives"), True, "resources"),
        StateVariable("score", assault_score, category="score"),
    )


ASSAULT: tuple[StateVariable, ...] = _assault()

# Keyed by wm-data's own name of each game, so the lookup follows whatever form it returns.
RAM_MAPS: dict[str, tuple[StateVariable, ...]] = {game_name("ALE/Assault-v5"): ASSAULT}

MAX_CATEGORIES = 10


def ram_map(env_id: str) -> tuple[StateVariable, ...] | None:
    """The decoded variables of the game, or None for a game without a decoding map."""
    return RAM_MAPS.get(game_name(env_id)) if env_id else None


def select_variables(env_id: str, train_ram: np.ndarray, top_bytes: int) -> list[StateVariable]:
    """The game's decoded variables, or its ``top_bytes`` highest-variance raw bytes.

    A raw byte with at most ``MAX_CATEGORIES`` distinct values counts as categorical.
    """
    known = ram_map(env_id)
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
    state rather than in pixels. Where a variable is undefined (an enemy that is not alive)
    it takes its train mean, i.e. 0 after standardisation.
    """
    cols, ref = [], []
    for v in variables:
        r, r_ok = v.read(train_ram), v.where(train_ram)
        fill = float(r[r_ok].mean()) if r_ok.any() else 0.0
        cols.append(np.where(v.where(ram), v.read(ram), fill))
        ref.append(np.where(r_ok, r, fill))
    x, r = np.stack(cols, axis=1), np.stack(ref, axis=1)
    std = r.std(axis=0)
    keep = std > 0
    if not keep.any():
        raise ValueError("ram: every state variable is constant on the training windows")
    return (x[:, keep] - r[:, keep].mean(axis=0)) / std[keep]
