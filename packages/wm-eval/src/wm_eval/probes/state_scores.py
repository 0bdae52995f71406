"""Scores of the object-level state probe, AtariARI style, as episode-resamplable measurements.

Every cell of the state table is a ``Measurement`` over the same scored windows (so cells of
one row can be compared, paired, across columns); a variable defined on some windows only
(an enemy's x where it is alive) is scored on those windows of each resample.

* continuous variables: R² of a ridge read-out (1 perfect, 0 = the scored mean);
* categorical ones: balanced accuracy of a class-balanced logistic read-out (chance = 1/k for
  k classes), with macro F1 beside it;
* a category's figure is the mean of its members' **skill**, R² or chance-adjusted balanced
  accuracy ``(b − 1/k) / (1 − 1/k)``, so that 0 means "no better than a constant" for both
  kinds and the two can be averaged; ``mean`` averages the categories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from wm_eval.metrics.probes import RIDGE_ALPHAS, balanced_logistic, logistic_features
from wm_eval.metrics.ridge import GramRidgeCV
from wm_eval.stats import Measurement, Parts, joined, r2_parts

NAN = float("nan")


def fit_predict(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, categorical: bool
) -> np.ndarray:
    """Test-row predictions of a linear read-out fit on train rows (standardised features).

    Continuous: ridge with alpha by leave-one-out on the train rows (``GramRidgeCV``); a 2-D
    ``y_train`` ``[n, t]`` fits ``t`` targets on one decomposition, each with its own alpha,
    and gives ``[m, t]``. Categorical: class-balanced logistic regression, the read-out
    balanced accuracy rewards, on float32 features (``logistic_features``). A 1-D target
    constant on the train rows is predicted as that constant.
    """
    y_train = np.asarray(y_train)
    if len(y_train) == 0:
        raise ValueError("fit_predict: no training rows")
    if y_train.ndim == 1 and len(np.unique(y_train)) < 2:
        return np.full(len(x_test), y_train[0], dtype=np.float64)
    if categorical:
        head = balanced_logistic(len(np.unique(y_train)), *np.shape(x_train))
        features = logistic_features
    else:
        head = GramRidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=y_train.ndim == 2)
        features = _float64
    model = make_pipeline(StandardScaler(), head)
    model.fit(features(x_train), y_train)
    return model.predict(features(x_test)).astype(np.float64)


def _float64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def constant_prediction(y_train: np.ndarray, n: int, *, categorical: bool) -> np.ndarray:
    """The trivial read-out: the train mean, or the train majority class."""
    y_train = np.asarray(y_train).ravel()
    if categorical:
        values, counts = np.unique(y_train, return_counts=True)
        return np.full(n, values[np.argmax(counts)], dtype=np.float64)
    return np.full(n, float(np.mean(y_train)))


def r2(y: np.ndarray, p: np.ndarray) -> float:
    """R², NaN when fewer than two rows or a constant target leave it undefined."""
    if len(y) < 2:
        return NAN
    total = float(np.sum((y - y.mean()) ** 2))
    return NAN if total == 0 else 1.0 - float(np.sum((y - p) ** 2)) / total


def balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (NaN without rows)."""
    if len(y) == 0:
        return NAN
    return float(np.mean([np.mean(p[y == c] == c) for c in np.unique(y)]))


def adjusted_balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Balanced accuracy rescaled so chance (1/k) is 0 and perfect is 1; NaN for k < 2."""
    k = len(np.unique(y))
    if k < 2:
        return NAN
    return (balanced_accuracy(y, p) - 1.0 / k) / (1.0 - 1.0 / k)


def macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    """Macro-averaged F1 over the classes present in ``y`` (NaN without rows)."""
    if len(y) == 0:
        return NAN
    scores = []
    for c in np.unique(y):
        hit, said = y == c, p == c
        tp = np.sum(hit & said)
        scores.append(2 * tp / (2 * tp + np.sum(said & ~hit) + np.sum(hit & ~said)))
    return float(np.mean(scores))


Score = Callable[[np.ndarray, np.ndarray], float]


def masked(fn: Score, y: np.ndarray, p: np.ndarray, defined: np.ndarray) -> Callable:
    """``statistic(idx)``: ``fn`` on the windows at ``idx`` where the variable is defined."""
    y, p, defined = np.asarray(y), np.asarray(p), np.asarray(defined, dtype=bool)

    def statistic(idx: np.ndarray) -> float:
        keep = idx[defined[idx]]
        return fn(y[keep], p[keep])

    return statistic


@dataclass
class Cells:
    """One variable's measurements in one column: its reported score, its skill, its F1."""

    score: Measurement
    skill: Measurement
    f1: Measurement | None = None


def variable_cells(
    y: np.ndarray, p: np.ndarray, defined: np.ndarray, episodes: np.ndarray, *, categorical: bool
) -> Cells:
    """The cells of one variable scored on all windows (``defined`` picks the scored ones)."""
    episodes = np.asarray(episodes)
    if not (len(y) == len(p) == len(defined) == len(episodes)):
        raise ValueError(
            f"y, p, defined, episodes: lengths {len(y)}, {len(p)}, {len(defined)}, "
            f"{len(episodes)} differ"
        )
    if not categorical:
        m = Measurement(episodes, masked(r2, y, p, defined), r2_parts(y, p, defined, episodes))
        return Cells(m, m)
    counts = _class_parts(y, p, defined, episodes)
    return Cells(
        Measurement(episodes, masked(balanced_accuracy, y, p, defined), counts(_balanced)),
        Measurement(episodes, masked(adjusted_balanced_accuracy, y, p, defined), counts(_adjusted)),
        Measurement(episodes, masked(macro_f1, y, p, defined), counts(_macro_f1)),
    )


def _class_parts(y, p, defined, episodes) -> Callable[[Callable], Parts]:
    """Per-window class indicators ``[n_c, hit_c, said_c]`` (K classes each) on defined windows.

    Returns a maker of ``Parts`` for a statistic of the class counts summed over episodes.
    """
    d = np.asarray(defined, dtype=bool)
    y, p = np.asarray(y), np.asarray(p)
    classes = np.unique(y[d])
    is_c = (y[:, None] == classes) & d[:, None]
    said = (p[:, None] == classes) & d[:, None]
    per_window = np.concatenate([is_c, is_c & said, said], axis=1).astype(np.float64)
    sums = Parts.of_windows(per_window, episodes, _balanced).sums
    return lambda combine: Parts(sums, combine)


def _split(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = s.shape[-1] // 3
    return s[..., :k], s[..., k : 2 * k], s[..., 2 * k :]


def _balanced(s: np.ndarray) -> np.ndarray:
    n, hit, _ = _split(s)
    present = n > 0
    recall = np.where(present, hit / np.where(present, n, 1.0), 0.0)
    k = present.sum(axis=-1)
    return np.where(k > 0, recall.sum(axis=-1) / np.maximum(k, 1), NAN)


def _adjusted(s: np.ndarray) -> np.ndarray:
    k = (_split(s)[0] > 0).sum(axis=-1)
    chance = 1.0 / np.maximum(k, 1)
    return np.where(k >= 2, (_balanced(s) - chance) / (1.0 - np.where(k >= 2, chance, 0.0)), NAN)


def _macro_f1(s: np.ndarray) -> np.ndarray:
    n, tp, said = _split(s)
    present = n > 0
    den = 2 * tp + (said - tp) + (n - tp)
    f1 = np.where(present, 2 * tp / np.where(den > 0, den, 1.0), 0.0)
    k = present.sum(axis=-1)
    return np.where(k > 0, f1.sum(axis=-1) / np.maximum(k, 1), NAN)


def _nanmean(values: list[np.ndarray]) -> np.ndarray:
    v = np.stack(values, axis=-1)
    finite = np.isfinite(v).any(axis=-1)
    kept = np.where(np.isnan(v), 0.0, v)
    count = (~np.isnan(v)).sum(axis=-1)
    return np.where(finite, kept.sum(axis=-1) / np.maximum(count, 1), NAN)


def average(members: Sequence[Measurement]) -> Measurement:
    """The mean of member statistics on the same resampled windows (undefined ones skipped)."""
    if not members:
        raise ValueError("average: no members")
    episodes = members[0].episodes
    for m in members[1:]:
        if not np.array_equal(m.episodes, episodes):
            raise ValueError("average: members must score the same windows")
    stats = [m.statistic for m in members]

    def statistic(idx: np.ndarray) -> float:
        values = np.array([s(idx) for s in stats], dtype=np.float64)
        return float(np.nanmean(values)) if np.isfinite(values).any() else NAN

    parts = None
    if all(m.parts is not None for m in members):
        parts = joined([m.parts for m in members], _nanmean)  # type: ignore[misc]
    return Measurement(episodes, statistic, parts)
