"""wm-models: registries of world-model parts, the model zoo, and self-describing checkpoints.

Build parts by name (``build("encoder", "conv", frame_shape=(1, 64, 64), context=4)``), list
them (``list_models("encoder", "v*")``), add your own with ``@ENCODERS.register("mine")`` or
through the entry-point group ``wm_models.plugins``, and save/load whole worlds with
``save_checkpoint`` / ``load_module``.
"""

__version__ = "0.1.0"

# Importing the zoo registers the built-in models.
from wm_models import decoders, encoders, inverse_heads, predictors, reward_heads
from wm_models.checkpoint import (
    ROLES,
    CheckpointError,
    CheckpointWriteError,
    load_checkpoint,
    load_module,
    load_modules,
    save_checkpoint,
)
from wm_models.registry import (
    DECODERS,
    ENCODERS,
    INVERSE_HEADS,
    KINDS,
    PLUGIN_GROUP,
    PREDICTORS,
    REGISTRIES,
    REWARD_HEADS,
    Registry,
    RegistryClashError,
    UnknownModelError,
    build,
    get_registry,
    list_models,
    load_plugins,
    model_registry,
    module_spec,
)

__all__ = [
    "DECODERS",
    "ENCODERS",
    "INVERSE_HEADS",
    "KINDS",
    "PLUGIN_GROUP",
    "PREDICTORS",
    "REGISTRIES",
    "REWARD_HEADS",
    "ROLES",
    "CheckpointError",
    "CheckpointWriteError",
    "Registry",
    "RegistryClashError",
    "UnknownModelError",
    "__version__",
    "build",
    "decoders",
    "encoders",
    "get_registry",
    "inverse_heads",
    "list_models",
    "load_checkpoint",
    "load_module",
    "load_modules",
    "load_plugins",
    "model_registry",
    "module_spec",
    "predictors",
    "reward_heads",
    "save_checkpoint",
]
