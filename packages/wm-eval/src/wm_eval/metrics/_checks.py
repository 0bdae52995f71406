"""Input validation shared by the metric functions."""

from __future__ import annotations

import numpy as np


def as_2d(x: np.ndarray, name: str) -> np.ndarray:
    """Return ``x`` as a finite ``[N, D]`` array (trailing axes flattened); raise naming it."""
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    elif x.ndim > 2:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name}: expected a non-empty [N, D] array, got shape {np.shape(x)}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return x


def same_length(**arrays: np.ndarray) -> int:
    """Check that every named array has the same first dimension and return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"arrays must have the same number of rows, got {lengths}")
    return next(iter(lengths.values()))
