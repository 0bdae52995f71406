"""wm-train: one generic Trainer for JEPA and encoder-decoder world models, driven by gin."""

from wm_train.config import DataConfig, OptimConfig
from wm_train.ema import EmaTarget, decay_schedule
from wm_train.freeze import FREEZE_POLICIES, FreezeModules, NoFreeze, UnfreezeAfter, register_freeze
from wm_train.losses import LOSSES, JepaLoss, ReconstructionLoss, RewardLoss, register_loss
from wm_train.registry import UnknownNameError
from wm_train.run_dir import RunDirError
from wm_train.trainer import NonFiniteLossError, Trainer
from wm_train.world import World

__version__ = "0.1.0"

__all__ = [
    "FREEZE_POLICIES",
    "LOSSES",
    "DataConfig",
    "EmaTarget",
    "FreezeModules",
    "JepaLoss",
    "NoFreeze",
    "NonFiniteLossError",
    "OptimConfig",
    "ReconstructionLoss",
    "RewardLoss",
    "RunDirError",
    "Trainer",
    "UnfreezeAfter",
    "UnknownNameError",
    "World",
    "__version__",
    "decay_schedule",
    "register_freeze",
    "register_loss",
]
