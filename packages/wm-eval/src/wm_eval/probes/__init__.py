"""Probes: each ``run(session) -> list[Table]`` reads checkpoints and a store and fills tables.

The built-in probes register themselves in ``PROBES`` when imported here; plugins add theirs
through the ``wm_eval.plugins`` entry-point group.
"""

from wm_eval.probes import (  # noqa: F401  (registers)
    action,
    control,
    reconstruction,
    representation,
    reward,
    rollout,
    state,
)
from wm_eval.probes.registry import PROBES, check_probes, default_probes, probe

__all__ = ["PROBES", "check_probes", "default_probes", "probe"]
