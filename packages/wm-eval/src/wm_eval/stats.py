"""Uncertainty and judgement: episode-level bootstrap intervals and paired verdicts.

Windows of one episode are strongly correlated, so the unit of resampling is the **episode**:
a ``Measurement`` keeps, for every scored window, the episode it came from and a statistic of
any subset of windows (a mean of per-window errors, an R², an AUROC). Its 95% interval comes
from ``scipy.stats.bootstrap`` over the episode ids (percentile method), the statistic being
recomputed on the windows of each resampled set of episodes.

Two measurements of the same windows (a model and a baseline, or two runs in the same space)
are compared by the interval of their **paired** difference, resampling the same episodes for
both; a verdict says "beats" or "worse than" only when that interval excludes 0, and "no
better than" otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

__all__ = [
    "BEATS",
    "CONFIDENCE",
    "MIN_EPISODES",
    "NO_BETTER",
    "WORSE",
    "Interval",
    "Measurement",
    "compare",
    "verdict_text",
]

CONFIDENCE = 0.95
N_RESAMPLES = 1000
# A percentile bootstrap over fewer clusters than this understates the spread (with 2 episodes
# every resample is one of three sets): no interval, hence no verdict, below it.
MIN_EPISODES = 5
BEATS, NO_BETTER, WORSE = "beats", "no better than", "worse than"

Statistic = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval over ``n_episodes`` episodes."""

    value: float
    low: float
    high: float
    n_episodes: int

    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n_episodes}


@dataclass
class Measurement:
    """One figure over a set of windows, resamplable by episode.

    ``statistic(indices)`` computes the figure on the windows at ``indices`` (positions into
    ``episodes``); ``episodes[i]`` is the store episode of window ``i``.
    """

    episodes: np.ndarray
    statistic: Statistic
    _value: float | None = field(default=None, repr=False)
    _interval: Interval | None = field(default=None, repr=False)

    @classmethod
    def mean(cls, values: np.ndarray, episodes: np.ndarray) -> Measurement:
        """The mean of per-window values (errors, hits)."""
        values = np.asarray(values, dtype=np.float64)
        _check(values, episodes)
        return cls(np.asarray(episodes), lambda idx: float(values[idx].mean()))

    @classmethod
    def of(cls, fn: Callable[..., float], episodes: np.ndarray, *arrays: np.ndarray) -> Measurement:
        """``fn(*(a[idx] for a in arrays))``: a statistic of aligned per-window arrays (R²)."""
        for a in arrays:
            _check(a, episodes)
        return cls(np.asarray(episodes), lambda idx: float(fn(*(a[idx] for a in arrays))))

    @property
    def value(self) -> float:
        if self._value is None:
            self._value = float(self.statistic(np.arange(len(self.episodes))))
        return self._value

    def interval(self, *, seed: int = 0, n_resamples: int = N_RESAMPLES) -> Interval:
        """95% percentile interval of the statistic, resampling episodes with replacement."""
        if self._interval is None:
            self._interval = episode_bootstrap(
                self.statistic, self.episodes, seed=seed, n_resamples=n_resamples
            )
        return self._interval

    def minus(self, other: Measurement) -> Measurement:
        """The paired difference ``self - other`` (both must score the same windows)."""
        if len(self.episodes) != len(other.episodes) or not np.array_equal(
            self.episodes, other.episodes
        ):
            raise ValueError(
                "a paired difference needs both figures on the same windows "
                f"({len(self.episodes)} vs {len(other.episodes)} windows)"
            )
        a, b = self.statistic, other.statistic
        return Measurement(self.episodes, lambda idx: a(idx) - b(idx))


def _check(values: np.ndarray, episodes: np.ndarray) -> None:
    if len(values) != len(episodes):
        raise ValueError(f"{len(values)} values but {len(episodes)} episode ids")
    if len(values) == 0:
        raise ValueError("a measurement needs at least one window")


def episode_bootstrap(
    statistic: Statistic,
    episodes: np.ndarray,
    *,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> Interval:
    """Point estimate and percentile interval, resampling whole episodes (scipy's bootstrap)."""
    episodes = np.asarray(episodes)
    ids, inverse = np.unique(episodes, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(ids) + 1))
    windows = [order[bounds[i] : bounds[i + 1]] for i in range(len(ids))]
    value = float(statistic(np.arange(len(episodes))))
    if len(ids) < MIN_EPISODES:
        return Interval(value, float("nan"), float("nan"), len(ids))

    def resampled(picked: np.ndarray) -> float:
        return float(statistic(np.concatenate([windows[int(i)] for i in picked])))

    with np.errstate(all="ignore"), warnings.catch_warnings():
        # A statistic constant over resamples (a chance-level AUROC) has a zero-width interval,
        # which is the right answer; scipy warns about it.
        warnings.simplefilter("ignore", sps.DegenerateDataWarning)
        result = sps.bootstrap(
            (np.arange(len(ids)),),
            resampled,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            random_state=np.random.default_rng(seed),
        )
    low, high = result.confidence_interval
    return Interval(value, float(low), float(high), len(ids))


def compare(model: Measurement, baseline: Measurement, better: str, *, seed: int = 0) -> str:
    """``BEATS``, ``WORSE`` or ``NO_BETTER``: the paired difference's interval decides.

    ``better`` is ``'lower'`` or ``'higher'`` (which direction of the figure is good).
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    diff = model.minus(baseline).interval(seed=seed)
    if not diff.excludes_zero():
        return NO_BETTER
    improved = diff.high < 0 if better == "lower" else diff.low > 0
    return BEATS if improved else WORSE


def verdict_text(verdict: str, baseline: str) -> str:
    """``beats copy-last-frame`` / ``no better than mean frame`` / ``worse than blur``."""
    return f"{verdict} {baseline}"
