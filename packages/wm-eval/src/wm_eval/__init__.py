"""wm-eval: probes, representation metrics and side-by-side reports for Atari world models.

Reads checkpoints through :mod:`wm_models` and stores through :mod:`wm_data`; never imports
the training package. The pure metric functions live in :mod:`wm_eval.metrics` (numpy and
scikit-learn only); the names below are imported on first use, so importing the metrics does
not pull in torch or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "EvalConfig": "wm_eval.config",
    "EvalSession": "wm_eval.session",
    "evaluate": "wm_eval.evaluation",
    "HEADLINE_SPECS": "wm_eval.headline",
    "Headline": "wm_eval.headline",
    "build_headline": "wm_eval.headline",
    "PROBES": "wm_eval.probes",
    "probe": "wm_eval.probes",
    "Report": "wm_eval.report",
    "RowKeyError": "wm_eval.report",
    "Table": "wm_eval.report",
    "RunError": "wm_eval.runs",
    "RunInfo": "wm_eval.runs",
    "discover": "wm_eval.runs",
    "read_run": "wm_eval.runs",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'wm_eval' has no attribute {name!r}")
