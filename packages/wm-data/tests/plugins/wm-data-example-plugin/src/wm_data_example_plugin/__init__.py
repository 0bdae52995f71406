"""An outside package's collection policy, registered through ``wm_data.plugins``."""

from __future__ import annotations

from typing import Any

import numpy as np

from wm_data.policies import POLICIES


class CyclePolicy:
    """Actions 0, 1, 2, ... in turn: every action appears, in a known order."""

    name = "example_cycle"

    def __init__(self, num_actions: int) -> None:
        self.num_actions = num_actions
        self.step = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        actions = (self.step + np.arange(len(obs))) % self.num_actions
        self.step += 1
        return actions.astype(np.int64)


@POLICIES.register("example_cycle")
def example_cycle(*, num_actions: int, **_: Any) -> CyclePolicy:
    """Cycle through the action set."""
    return CyclePolicy(num_actions)
