"""Episode-level bootstrap intervals and paired verdicts give the known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score

from wm_eval.stats import BEATS, NO_BETTER, WORSE, Measurement, compare, episode_bootstrap


def episodes(n_episodes: int, per: int) -> np.ndarray:
    return np.repeat(np.arange(n_episodes), per)


def test_interval_covers_the_mean_and_widens_with_episode_noise() -> None:
    rng = np.random.default_rng(0)
    ep = episodes(30, 20)
    shared = rng.normal(0, 1.0, 30)[ep]  # windows of one episode move together
    noisy = Measurement.mean(5 + shared + rng.normal(0, 0.1, len(ep)), ep)
    iid = Measurement.mean(5 + rng.normal(0, 0.1, len(ep)), ep)
    a, b = noisy.interval(), iid.interval()
    assert a.low < 5 < a.high and a.n_episodes == 30
    assert (a.high - a.low) > 5 * (b.high - b.low)  # episodes, not windows, are the unit


def test_paired_difference_sees_a_small_consistent_gain() -> None:
    rng = np.random.default_rng(1)
    ep = episodes(20, 10)
    base = rng.normal(1.0, 0.5, len(ep))
    better = Measurement.mean(base - 0.05, ep)  # 0.05 better on every window
    same = Measurement.mean(base + rng.normal(0, 0.01, len(ep)), ep)
    baseline = Measurement.mean(base, ep)
    assert compare(better, baseline, "lower") == BEATS
    assert compare(baseline, better, "lower") == WORSE
    assert compare(same, baseline, "lower") == NO_BETTER
    assert compare(better, baseline, "higher") == WORSE


def test_statistics_of_several_arrays_are_resampled_together() -> None:
    rng = np.random.default_rng(2)
    ep = episodes(25, 8)
    y = rng.normal(size=len(ep))
    good = Measurement.of(r2_score, ep, y, y + rng.normal(0, 0.1, len(ep)))
    bad = Measurement.of(r2_score, ep, y, np.zeros(len(ep)) + y.mean())
    assert good.value > 0.95 and abs(bad.value) < 1e-9
    assert compare(good, bad, "higher") == BEATS


def test_mismatched_windows_and_degenerate_inputs_are_refused_or_flagged() -> None:
    a = Measurement.mean(np.ones(4), np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="same windows"):
        a.minus(Measurement.mean(np.ones(3), np.array([0, 1, 1])))
    with pytest.raises(ValueError, match="episode ids"):
        Measurement.mean(np.ones(3), np.array([0, 1]))
    one = episode_bootstrap(lambda idx: 1.0, np.zeros(5, dtype=int))
    assert one.value == 1.0 and np.isnan(one.low) and one.n_episodes == 1
    with pytest.raises(ValueError, match="better"):
        compare(a, a, "up")


def test_too_few_episodes_give_no_interval() -> None:
    rng = np.random.default_rng(3)
    few = Measurement.mean(rng.normal(size=40), episodes(4, 10))
    assert np.isnan(few.interval().low) and few.interval().n_episodes == 4
    enough = Measurement.mean(rng.normal(size=50), episodes(5, 10))
    assert not np.isnan(enough.interval().low)
