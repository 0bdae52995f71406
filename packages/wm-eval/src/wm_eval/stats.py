"""Uncertainty and judgement: episode-level bootstrap intervals and paired verdicts.

Windows of one episode are strongly correlated, so the unit of resampling is the **episode**:
a ``Measurement`` keeps, for every scored window, the episode it came from and a statistic of
any subset of windows (a mean of per-window errors, an R², an AUROC). Its 95% interval comes
from ``scipy.stats.bootstrap`` over the episode ids (percentile method), the statistic being
recomputed on the windows of each resampled set of episodes.

Where a statistic is a function of per-episode sums (a mean, a pooled ratio, an R², a balanced
accuracy), a ``Measurement`` also keeps those sums (``Parts``): a resample is then a weighted sum
``W @ sums`` with ``W[r, e]`` the times episode ``e`` was drawn, every resample at once, on the
same draws scipy makes. A statistic that is no function of sums (an AUROC, an average precision)
can instead be given as a function of **window weights** (``from_weights``): a resample is the
multiset of its windows, each weighted by the times its episode was drawn, so every resample
is again evaluated at once. Other statistics are recomputed per resample.

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
Combine = Callable[[np.ndarray], np.ndarray]
# Window weights [R, N] (how often each window is in each of R resamples) -> statistic [R].
Weighted = Callable[[np.ndarray], np.ndarray]
# Episode draw counts [R, E] (episodes in np.unique order) -> statistic [R].
Vectorised = Callable[[np.ndarray], np.ndarray]
WEIGHT_ROWS = 2**22  # resamples x windows per block of window weights (32 MiB of float64)


def draw_counts(picked: np.ndarray, n_episodes: int) -> np.ndarray:
    """Times each episode position is drawn in each resample: ``picked [R, k] -> [R, E]``."""
    rows = np.asarray(picked, dtype=np.int64).reshape(-1, np.shape(picked)[-1])
    flat = rows + n_episodes * np.arange(len(rows))[:, None]
    counts = np.bincount(flat.ravel(), minlength=len(rows) * n_episodes)
    return counts.reshape(len(rows), n_episodes).astype(np.float64)


def from_weights(weighted: Weighted, episodes: np.ndarray) -> Vectorised:
    """A statistic of window weights as one of episode draw counts (``Measurement.counted``).

    A resample is the multiset of the windows of its drawn episodes: each window weighted by
    the times its episode was drawn. Evaluated in blocks of resamples to bound memory.
    """
    _, inverse = np.unique(np.asarray(episodes), return_inverse=True)
    inverse = inverse.ravel()
    step = max(1, WEIGHT_ROWS // max(1, len(inverse)))

    def counted(counts: np.ndarray) -> np.ndarray:
        blocks = [weighted(counts[r : r + step][:, inverse]) for r in range(0, len(counts), step)]
        return np.concatenate(blocks) if blocks else np.empty(0)

    return counted


@dataclass(frozen=True)
class Parts:
    """Per-episode sums ``[E, P]`` (episodes in ``np.unique`` order) and the statistic of them.

    ``combine(s)`` maps summed parts ``[..., P]`` to the statistic ``[...]``; on the sums of
    every episode it equals the measurement's value up to float summation order.
    """

    sums: np.ndarray
    combine: Combine

    @classmethod
    def of_windows(cls, per_window: np.ndarray, episodes: np.ndarray, combine: Combine) -> Parts:
        """Sum per-window parts ``[N, P]`` within each episode."""
        per_window = np.asarray(per_window, dtype=np.float64).reshape(len(episodes), -1)
        _, inverse = np.unique(np.asarray(episodes), return_inverse=True)
        sums = np.zeros((int(inverse.max()) + 1, per_window.shape[1]))
        np.add.at(sums, inverse.ravel(), per_window)
        return cls(sums, combine)

    def resampled(self, picked: np.ndarray) -> np.ndarray:
        """The statistic of each resample of episode positions ``picked [..., E]``."""
        picked = np.asarray(picked, dtype=np.int64)
        return self.of_counts(draw_counts(picked, len(self.sums))).reshape(picked.shape[:-1])

    def of_counts(self, counts: np.ndarray) -> np.ndarray:
        """The statistic of each resample given its episode draw counts ``[R, E]``."""
        with np.errstate(all="ignore"):
            return np.asarray(self.combine(counts @ self.sums))


def ratio_of_sums(s: np.ndarray) -> np.ndarray:
    """``s[..., 0] / s[..., 1]`` (a mean, a pooled mean); NaN where the denominator is 0."""
    den = s[..., 1]
    return np.where(den > 0, s[..., 0] / np.where(den > 0, den, 1.0), np.nan)


def r2_parts(y: np.ndarray, p: np.ndarray, defined: np.ndarray, episodes: np.ndarray) -> Parts:
    """R² of ``p`` for ``y`` on the ``defined`` windows, as per-episode sums of
    ``[1, y, y², (y − p)²]`` (``y`` centred first, so the variance from sums keeps its
    precision); NaN where fewer than 2 windows or a constant ``y`` leave it undefined."""
    d = np.asarray(defined, dtype=bool)
    y = np.asarray(y, dtype=np.float64)
    yc = y - (y[d].mean() if d.any() else 0.0)
    res = (y - np.asarray(p, dtype=np.float64)) ** 2
    per_window = np.where(d[:, None], np.stack([np.ones_like(yc), yc, yc * yc, res], 1), 0.0)
    return Parts.of_windows(per_window, episodes, r2_from_sums)


def r2_from_sums(s: np.ndarray) -> np.ndarray:
    n, s1, s2, res = s[..., 0], s[..., 1], s[..., 2], s[..., 3]
    safe = np.where(n > 0, n, 1.0)
    total = s2 - s1 * s1 / safe
    ok = (n >= 2) & (total > 1e-12 * np.maximum(s2, 1e-300))
    return np.where(ok, 1.0 - res / np.where(ok, total, 1.0), np.nan)


def joined(parts: list[Parts], reduce: Callable[[list[np.ndarray]], np.ndarray]) -> Parts:
    """Parts of several measurements side by side, combined by ``reduce`` of their statistics."""
    widths = np.cumsum([0] + [p.sums.shape[1] for p in parts])
    combines = [p.combine for p in parts]

    def combine(s: np.ndarray) -> np.ndarray:
        return reduce(
            [c(s[..., a:b]) for c, a, b in zip(combines, widths[:-1], widths[1:], strict=True)]
        )

    return Parts(np.concatenate([p.sums for p in parts], axis=1), combine)


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
    ``episodes``); ``episodes[i]`` is the store episode of window ``i``. Optional fast forms of
    the same figure for the bootstrap: ``parts`` (per-episode sums), or ``counted``, the
    figure of many resamples from their episode draw counts (``from_weights`` makes one from a
    function of window weights, for ranks and curves).
    """

    episodes: np.ndarray
    statistic: Statistic
    parts: Parts | None = None
    counted: Vectorised | None = None
    _value: float | None = field(default=None, repr=False)
    _interval: Interval | None = field(default=None, repr=False)

    @classmethod
    def mean(cls, values: np.ndarray, episodes: np.ndarray) -> Measurement:
        """The mean of per-window values (errors, hits)."""
        values = np.asarray(values, dtype=np.float64)
        _check(values, episodes)
        episodes = np.asarray(episodes)
        ones = np.stack([values, np.ones_like(values)], axis=1)
        parts = Parts.of_windows(ones, episodes, ratio_of_sums)
        return cls(episodes, lambda idx: float(values[idx].mean()), parts)

    @classmethod
    def pooled(cls, sums: np.ndarray, counts: np.ndarray, episodes: np.ndarray) -> Measurement:
        """``Σ sums / Σ counts`` over the windows (NaN for an empty total): a pooled mean."""
        sums, counts = np.asarray(sums, np.float64), np.asarray(counts, np.float64)
        _check(sums, episodes)
        _check(counts, episodes)

        def statistic(idx: np.ndarray) -> float:
            total = float(np.sum(counts[idx]))
            return float(np.sum(sums[idx])) / total if total > 0 else float("nan")

        episodes = np.asarray(episodes)
        parts = Parts.of_windows(np.stack([sums, counts], axis=1), episodes, ratio_of_sums)
        return cls(episodes, statistic, parts)

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
                self.statistic,
                self.episodes,
                seed=seed,
                n_resamples=n_resamples,
                vectorised=self.vectorised(),
                value=self._value,
            )
        return self._interval

    def vectorised(self) -> Vectorised | None:
        """The statistic of many resamples at once from their episode draw counts, if known."""
        return self.parts.of_counts if self.parts is not None else self.counted

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
        if self.parts is not None and other.parts is not None:
            parts = joined([self.parts, other.parts], lambda v: v[0] - v[1])
            return Measurement(self.episodes, lambda idx: a(idx) - b(idx), parts)
        va, vb = self.vectorised(), other.vectorised()

        def counted(counts: np.ndarray) -> np.ndarray:
            assert va is not None and vb is not None
            return va(counts) - vb(counts)

        both = va is not None and vb is not None
        return Measurement(
            self.episodes, lambda idx: a(idx) - b(idx), counted=counted if both else None
        )


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
    parts: Parts | None = None,
    value: float | None = None,
    vectorised: Vectorised | None = None,
) -> Interval:
    """Point estimate and percentile interval, resampling whole episodes (scipy's bootstrap).

    With ``vectorised`` (the statistic from episode draw counts ``[R, E]``) or ``parts``
    every resample is evaluated at once (scipy's vectorised path, the same draws); without,
    the statistic is recomputed per resample.
    """
    if vectorised is None and parts is not None:
        vectorised = parts.of_counts
    episodes = np.asarray(episodes)
    ids, inverse = np.unique(episodes, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(ids) + 1))
    windows = [order[bounds[i] : bounds[i + 1]] for i in range(len(ids))]
    if value is None:
        value = float(statistic(np.arange(len(episodes))))
    if len(ids) < MIN_EPISODES:
        return Interval(value, float("nan"), float("nan"), len(ids))

    def resampled(picked: np.ndarray) -> float:
        return float(statistic(np.concatenate([windows[int(i)] for i in picked])))

    def at_once(picked: np.ndarray, axis: int = -1) -> np.ndarray:
        assert vectorised is not None
        picked = np.moveaxis(np.asarray(picked, dtype=np.int64), axis, -1)
        out = np.asarray(vectorised(draw_counts(picked, len(ids))), dtype=np.float64)
        return out.reshape(picked.shape[:-1])

    with np.errstate(all="ignore"), warnings.catch_warnings():
        # A statistic constant over resamples (a chance-level AUROC) has a zero-width interval,
        # which is the right answer; scipy warns about it.
        warnings.simplefilter("ignore", sps.DegenerateDataWarning)
        result = sps.bootstrap(
            (np.arange(len(ids)),),
            resampled if vectorised is None else at_once,
            vectorized=vectorised is not None,
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
    return decide(model.minus(baseline).interval(seed=seed), better)


def decide(difference: Interval, better: str) -> str:
    """The verdict that the interval of a paired difference (model − baseline) supports."""
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    if not difference.excludes_zero():
        return NO_BETTER
    improved = difference.high < 0 if better == "lower" else difference.low > 0
    return BEATS if improved else WORSE


def verdict_text(verdict: str, baseline: str) -> str:
    """``beats copy-last-frame`` / ``no better than mean frame`` / ``worse than blur``."""
    return f"{verdict} {baseline}"
