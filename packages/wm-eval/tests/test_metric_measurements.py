"""Per-window decompositions: each one's mean (or statistic) is exactly the set-level metric."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trustworthiness
from sklearn.metrics import roc_auc_score

from wm_eval.metrics.neighbours import continuity_per_point, trustworthiness_per_point
from wm_eval.metrics.representation import (
    noise_displacements,
    noise_robustness,
    smoothness,
    smoothness_steps,
    standard_noise,
    step_ratio,
)
from wm_eval.metrics.reward import auroc, average_precision, reward_measurements, reward_metrics
from wm_eval.stats import BEATS, Measurement, compare


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_auroc_matches_sklearn_with_ties(rng):
    y = rng.random(300) < 0.1
    s = np.round(rng.normal(size=300) + y, 1)  # many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert np.isnan(auroc(np.zeros(5, bool), np.arange(5.0)))
    assert np.isnan(average_precision(np.zeros(5, bool), np.arange(5.0)))


def test_per_point_trustworthiness_averages_to_sklearns(rng):
    x = rng.normal(size=(120, 6))
    z = x[:, :2] + 0.1 * rng.normal(size=(120, 2))
    t = trustworthiness_per_point(x, z, n_neighbors=5, working_memory=1)
    assert t.shape == (120,)
    assert t.mean() == pytest.approx(sk_trustworthiness(x, z, n_neighbors=5), abs=1e-12)
    c = continuity_per_point(x, z, n_neighbors=5)
    assert c.mean() == pytest.approx(sk_trustworthiness(z, x, n_neighbors=5), abs=1e-12)


def test_reward_measurements_match_reward_metrics(rng):
    true = np.where(rng.random(200) < 0.15, rng.choice([1.0, 5.0], 200), 0.0)
    pred = true * 0.5 + rng.normal(0, 0.3, 200)
    episodes = np.repeat(np.arange(20), 10)
    plain = reward_metrics(true, pred)
    for key, m in reward_measurements(true, pred, episodes).items():
        assert m.value == pytest.approx(plain[key], rel=1e-12), key


def test_a_head_that_sees_rewards_beats_the_constant_on_paired_windows(rng):
    true = np.where(rng.random(400) < 0.2, 1.0, 0.0)
    episodes = np.repeat(np.arange(40), 10)
    head = reward_measurements(true, true * 0.9 + rng.normal(0, 0.05, 400), episodes)
    const = reward_measurements(true, np.full(400, true.mean()), episodes)
    assert compare(head["mse"], const["mse"], "lower") == BEATS
    assert compare(head["auroc_positive"], const["auroc_positive"], "higher") == BEATS


def test_smoothness_and_noise_decompose_per_window(rng):
    z = np.cumsum(rng.normal(size=(101, 4)), axis=0)
    x = rng.normal(size=(101, 30))
    steps = smoothness_steps(z[:-1], z[1:], x[:-1], x[1:])
    plain = smoothness(z[:-1], z[1:], x[:-1], x[1:])
    assert steps["latent"].mean() == pytest.approx(plain["latent_step"])
    assert step_ratio(steps["latent"], steps["pixel"]) == pytest.approx(plain["ratio"])
    ratio = Measurement.of(
        step_ratio, np.repeat(np.arange(10), 10), steps["latent"], steps["pixel"]
    )
    assert ratio.value == pytest.approx(plain["ratio"])
    images = rng.random((20, 2, 4, 4)).astype(np.float32)

    def enc(a):
        return a.reshape(len(a), -1)[:, :5]

    moved = noise_displacements(enc, images, (0.0, 0.1), seed=3)
    mean = noise_robustness(enc, images, (0.0, 0.1), seed=3)
    assert moved["sigma=0"].shape == (20,)
    assert {k: v.mean() for k, v in moved.items()} == pytest.approx(mean)
    # what several encoders of one store share: the draw and the clean latents
    shared = noise_displacements(
        enc, images, (0.0, 0.1), noise=standard_noise(images.shape, 3), clean=enc(images)
    )
    for k in moved:
        np.testing.assert_array_equal(shared[k], moved[k])
