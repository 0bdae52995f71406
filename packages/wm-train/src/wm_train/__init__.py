"""wm-train: one generic Trainer for JEPA and encoder-decoder world models, driven by gin."""

from wm_core import UnknownNameError
from wm_train.callbacks import (
    Callback,
    Checkpointer,
    CollapseWatch,
    EmaUpdate,
    MetricsLogger,
    NonFiniteGuard,
    NonFiniteLossError,
    StepMetrics,
)
from wm_train.config import DataConfig, OptimConfig
from wm_train.curves import LearningCurves, plot_curves
from wm_train.ema import EmaTarget, decay_schedule
from wm_train.freeze import FREEZE_POLICIES, FreezeModules, NoFreeze, UnfreezeAfter, register_freeze
from wm_train.losses import (
    LOSSES,
    BaseLoss,
    JepaLoss,
    ReconstructionLoss,
    RewardLoss,
    WorldLoss,
    register_loss,
)
from wm_train.progress import ProgressLines
from wm_train.run_dir import RunDirError
from wm_train.train_state import TrainState
from wm_train.trainer import Trainer
from wm_train.world import World

__version__ = "0.1.0"

__all__ = [
    "FREEZE_POLICIES",
    "LOSSES",
    "BaseLoss",
    "Callback",
    "Checkpointer",
    "CollapseWatch",
    "DataConfig",
    "EmaTarget",
    "EmaUpdate",
    "FreezeModules",
    "JepaLoss",
    "LearningCurves",
    "MetricsLogger",
    "NoFreeze",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "OptimConfig",
    "ProgressLines",
    "ReconstructionLoss",
    "RewardLoss",
    "RunDirError",
    "StepMetrics",
    "TrainState",
    "Trainer",
    "UnfreezeAfter",
    "UnknownNameError",
    "World",
    "WorldLoss",
    "__version__",
    "decay_schedule",
    "plot_curves",
    "register_freeze",
    "register_loss",
]
