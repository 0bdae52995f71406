"""Statistics across seeds: means, interquartile means, paired differences and probability of
improvement, each with a percentile bootstrap interval from ``scipy.stats.bootstrap``.

The unit of resampling is the **training seed**. Across games the bootstrap is *stratified*:
scipy resamples each sample passed to it independently, so passing one sample per game resamples
seeds within each game and never moves a seed from one game to another (rliable's stratified
bootstrap). Probability of improvement follows rliable: per game, the chance that a random seed
of A scores better than a random seed of B (ties count half, the Mann-Whitney U statistic over
``n * m``), averaged over games.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

__all__ = [
    "Estimate",
    "estimate",
    "iqm",
    "mean_of_games",
    "paired_verdict",
    "probability_of_improvement",
]

LOWER, HIGHER = "lower", "higher"
Statistic = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """A point estimate over ``n`` seeds with its interval (None where there is none)."""

    value: float
    low: float | None
    high: float | None
    n: int

    def excludes(self, point: float) -> bool:
        return self.low is not None and self.high is not None and not self.low <= point <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def mean_of_games(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """Every game weighs the same, whatever its number of seeds."""
    return np.mean([np.mean(s, axis=axis) for s in samples], axis=0)


def iqm(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean of all samples pooled (the mean of the middle 50%)."""
    return sps.trim_mean(np.concatenate(samples, axis=axis), 0.25, axis=axis)


def _poi_game(x: np.ndarray, y: np.ndarray, better: str) -> np.ndarray:
    a, b = x[..., :, None], y[..., None, :]
    wins = (a < b) if better == LOWER else (a > b)
    return np.mean(wins + 0.5 * (a == b), axis=(-2, -1))


def probability_of_improvement(better: str) -> Statistic:
    """P(A better than B), averaged over games: the statistic of samples (a1, b1, a2, b2, ...)."""

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        pairs = [(samples[i], samples[i + 1]) for i in range(0, len(samples), 2)]
        moved = [(np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)) for a, b in pairs]
        return np.mean([_poi_game(a, b, better) for a, b in moved], axis=0)

    return statistic


def estimate(
    samples: Sequence[np.ndarray],
    statistic: Statistic,
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
    n: int | None = None,
) -> Estimate | None:
    """The statistic of ``samples`` and its stratified percentile bootstrap interval.

    None when there is no value; no interval when a sample has fewer than 2 seeds (a resample
    of one seed is that seed) or the interval is undefined.
    """
    samples = [np.asarray(s, dtype=np.float64) for s in samples]
    if not samples or any(len(s) == 0 for s in samples):
        return None
    value = float(statistic(*samples, axis=-1))
    count = n if n is not None else sum(len(s) for s in samples)
    if any(len(s) < 2 for s in samples) or not np.isfinite(value):
        return Estimate(value, None, None, count)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identical seeds: a degenerate, zero-width interval
        res = sps.bootstrap(
            tuple(samples),
            statistic,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            vectorized=True,
            paired=False,
            random_state=np.random.default_rng(seed),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        low = high = value if np.all([np.ptp(s) == 0 for s in samples]) else None
    return Estimate(value, low, high, count)


def paired_verdict(
    diff: Estimate | None, better: str, names: tuple[str, str], min_seeds: int
) -> tuple[str, str | None, str | None]:
    """(verdict, winner, note) from the interval of the paired difference ``a - b``.

    A winner is named only when the interval excludes 0 and at least ``min_seeds`` seeds are
    paired; otherwise "a no better than b", with the reason in ``note`` when there is one.
    """
    a, b = names
    tie = f"{a} no better than {b}"
    if diff is None:
        return tie, None, "no paired seeds"
    if diff.low is None or diff.high is None:
        return tie, None, "no interval"
    if diff.n < min_seeds:
        return tie, None, f"{diff.n} seeds: too few for a verdict (needs {min_seeds})"
    a_better = diff.high < 0 if better == LOWER else diff.low > 0
    b_better = diff.low > 0 if better == LOWER else diff.high < 0
    if a_better:
        return f"{a} beats {b}", a, None
    if b_better:
        return f"{b} beats {a}", b, None
    return tie, None, None
