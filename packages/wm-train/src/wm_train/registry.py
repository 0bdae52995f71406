"""Names wm-train code and users import for registry misses (defined once, in wm-core)."""

from wm_core import Registry, UnknownNameError, did_you_mean
from wm_core import unknown_name as unknown

__all__ = ["Registry", "UnknownNameError", "did_you_mean", "unknown"]
