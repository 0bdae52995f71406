"""wm-data: Atari envs, PPO collection agent, HDF5 replay store and windowed datasets."""

__version__ = "0.1.0"

from wm_data.dataset import WindowDataset, make_loader, split_episodes
from wm_data.envs import EnvSpec, game_name, make_env
from wm_data.policies import POLICIES, make_policy
from wm_data.store import (
    Episode,
    ReplayReader,
    ReplayWriter,
    StoreError,
    StoreMismatchError,
    open_store,
)
from wm_data.vector import make_vec_env

__all__ = [
    "POLICIES",
    "EnvSpec",
    "Episode",
    "ReplayReader",
    "ReplayWriter",
    "StoreError",
    "StoreMismatchError",
    "WindowDataset",
    "__version__",
    "game_name",
    "make_env",
    "make_loader",
    "make_policy",
    "make_vec_env",
    "open_store",
    "split_episodes",
]
