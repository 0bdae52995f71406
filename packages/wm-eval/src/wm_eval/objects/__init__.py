"""Objects decoded from emulator RAM, per game: positions, quantities and screen regions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from wm_data.envs import game_name
from wm_eval.objects import assault

ObjectMask = Callable[[np.ndarray, tuple[int, int]], np.ndarray]

# Keyed by wm-data's own name of each game, so any form of an env id finds its map.
OBJECT_MASKS: dict[str, ObjectMask] = {game_name("ALE/Assault-v5"): assault.object_mask}


def object_mask_for(env_id: str) -> ObjectMask | None:
    """``object_mask(ram, frame_shape)`` of the game, or None where no RAM map is known."""
    return OBJECT_MASKS.get(game_name(env_id))


__all__ = ["OBJECT_MASKS", "ObjectMask", "assault", "object_mask_for"]
