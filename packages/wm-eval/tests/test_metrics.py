"""Every metric against cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trustworthiness

from wm_eval.metrics import (
    collapse_stats,
    continuity,
    effective_rank,
    event_probe,
    image_errors,
    linear_probe,
    median_pairwise_distance,
    noise_robustness,
    normalised_latent_error,
    participation_ratio,
    reward_metrics,
    smoothness,
    trustworthiness,
    twonn_dimension,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# --- intrinsic dimension ---------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 5, 8])
def test_twonn_recovers_dimension_of_uniform_cloud(rng, d):
    # a d-dim uniform cube embedded isometrically in 20 ambient dimensions
    x = rng.uniform(size=(4000, d))
    q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    est = twonn_dimension(x @ q[:d])
    assert est == pytest.approx(d, rel=0.12)


def test_twonn_exceeds_old_estimator_ceiling(rng):
    # the 1/(log mean(mu) - psi(1)) form cannot exceed ~1.73; the MLE must
    assert twonn_dimension(rng.uniform(size=(3000, 10))) > 7


def test_twonn_removes_duplicates(rng):
    x = rng.uniform(size=(1500, 3))
    with_dupes = np.concatenate([x, x[:500], x[:500]])
    assert twonn_dimension(with_dupes) == pytest.approx(twonn_dimension(x))
    assert np.isfinite(twonn_dimension(with_dupes))


def test_twonn_rejects_too_few_distinct_points():
    with pytest.raises(ValueError, match="distinct"):
        twonn_dimension(np.zeros((10, 3)))


def test_participation_ratio_isotropic_and_line(rng):
    assert participation_ratio(rng.normal(size=(20000, 16))) == pytest.approx(16, rel=0.03)
    t = rng.normal(size=(500, 1))
    line = t @ rng.normal(size=(1, 16)) + 3.0
    assert participation_ratio(line) == pytest.approx(1.0, abs=1e-6)
    assert participation_ratio(np.ones((50, 4))) == 0.0


def test_participation_ratio_is_scale_free(rng):
    x = rng.normal(size=(1000, 8)) * np.arange(1, 9)
    assert participation_ratio(x) == pytest.approx(participation_ratio(100 * x))


def test_effective_rank_bounds(rng):
    assert effective_rank(rng.normal(size=(20000, 10))) == pytest.approx(10, rel=0.03)
    line = rng.normal(size=(300, 1)) @ rng.normal(size=(1, 10))
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert effective_rank(np.zeros((10, 5))) == 0.0


@pytest.mark.parametrize("value", [0.0, 0.1, 7.3, -3.3e-5, 1e6])
def test_a_constant_cloud_has_effective_rank_zero(value):
    """The agreed rule (wm-train's diagnostics too): a constant cloud has rank 0, not 1, even
    when centring it leaves rounding residues (0.1 is not exact in binary)."""
    z = np.full((100, 8), value)
    assert effective_rank(z) == 0.0
    assert participation_ratio(z) == 0.0
    stats = collapse_stats(z)
    assert stats["effective_rank"] == stats["effective_rank_frac"] == 0.0


def test_a_small_real_spread_on_a_large_offset_still_counts(rng):
    z = np.full((200, 8), 1e3)
    z[:, 0] += rng.normal(size=200) * 1e-6
    assert effective_rank(z) == pytest.approx(1.0)


# --- neighbourhoods --------------------------------------------------------------------------


def test_trustworthiness_is_one_for_isometry(rng):
    x = rng.normal(size=(400, 12))
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    z = x @ q + 7.0
    assert trustworthiness(x, z, n_neighbors=10) == pytest.approx(1.0)
    assert continuity(x, z, n_neighbors=10) == pytest.approx(1.0)
    assert trustworthiness(x, 3.0 * z) == pytest.approx(1.0)  # uniform scaling keeps ranks


@pytest.mark.parametrize("k", [1, 5, 12])
def test_trustworthiness_matches_sklearn(rng, k):
    x = rng.normal(size=(250, 10))
    z = x[:, :2] + 0.5 * rng.normal(size=(250, 2))
    ours = trustworthiness(x, z, n_neighbors=k, working_memory=1)  # many small blocks
    assert ours == pytest.approx(sk_trustworthiness(x, z, n_neighbors=k), abs=1e-12)
    assert continuity(x, z, n_neighbors=k) == pytest.approx(
        sk_trustworthiness(z, x, n_neighbors=k), abs=1e-12
    )


def test_random_embedding_is_less_trustworthy(rng):
    x = rng.normal(size=(300, 5))
    assert trustworthiness(x, rng.normal(size=(300, 5))) < 0.7


def test_neighbourhood_rejects_bad_k(rng):
    with pytest.raises(ValueError, match="n_neighbors"):
        trustworthiness(rng.normal(size=(10, 2)), rng.normal(size=(10, 2)), n_neighbors=5)
    with pytest.raises(ValueError, match="same number of rows"):
        trustworthiness(rng.normal(size=(10, 2)), rng.normal(size=(11, 2)), n_neighbors=2)


# --- local latent metrics --------------------------------------------------------------------


def test_median_pairwise_distance_known_answer():
    # two points at distance 5: every distinct pair has distance 5
    assert median_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)


def test_median_pairwise_distance_exact_for_few_rows_estimated_for_many(rng):
    from scipy.spatial.distance import pdist

    x = rng.random((60, 30)).astype(np.float32)  # 1770 pairs: all of them
    assert median_pairwise_distance(x) == pytest.approx(np.median(pdist(x)), rel=1e-6)
    many = rng.random((700, 30))  # 244,650 pairs: a sample of 200,000
    estimate = median_pairwise_distance(many)
    assert estimate == pytest.approx(np.median(pdist(many)), rel=5e-3)
    assert estimate != np.median(pdist(many))


def test_smoothness_is_scale_free_and_zero_for_constant(rng):
    z = np.cumsum(rng.normal(size=(501, 8)), axis=0)
    a = smoothness(z[:-1], z[1:])
    b = smoothness(10 * z[:-1], 10 * z[1:])
    assert a["latent_step"] == pytest.approx(b["latent_step"])
    assert a["latent_step"] < 0.5  # a random walk moves little per step vs its spread
    const = np.ones((100, 4))
    assert smoothness(const, const)["latent_step"] == 0.0


def test_smoothness_ratio_against_pixels(rng):
    x = np.cumsum(rng.normal(size=(301, 30)), axis=0)
    res = smoothness(x[:-1, :5], x[1:, :5], x[:-1], x[1:])
    assert res["pixel_step"] > 0 and np.isfinite(res["ratio"])
    same = smoothness(x[:-1], x[1:], x[:-1], x[1:])
    assert same["ratio"] == pytest.approx(1.0)


def test_noise_robustness_constant_encoder_is_zero(rng):
    images = rng.uniform(size=(64, 1, 8, 8)).astype(np.float32)
    res = noise_robustness(lambda x: np.zeros((len(x), 3)), images, sigmas=(0.05, 0.2))
    assert res == {"sigma=0.05": 0.0, "sigma=0.2": 0.0}


def test_noise_robustness_identity_grows_with_sigma(rng):
    images = rng.uniform(0.2, 0.8, size=(128, 64)).astype(np.float32)
    res = noise_robustness(lambda x: x.reshape(len(x), -1), images, sigmas=(0.0, 0.01, 0.1))
    assert res["sigma=0"] == 0.0
    assert 0 < res["sigma=0.01"] < res["sigma=0.1"]
    # identity: ||noise|| / median pairwise distance ~ sigma*sqrt(D) / (sqrt(2 D) * std)
    expected = 0.1 * np.sqrt(64) / median_pairwise_distance(images)
    assert res["sigma=0.1"] == pytest.approx(expected, rel=0.1)


def test_noise_robustness_rejects_byte_images():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        noise_robustness(lambda x: x, np.full((4, 3), 255.0))


def test_collapse_stats(rng):
    healthy = collapse_stats(rng.normal(size=(5000, 8)))
    assert healthy["dead_dims"] == 0.0
    assert healthy["effective_rank_frac"] > 0.95
    z = rng.normal(size=(5000, 8))
    z[:, 4:] = 0.0
    collapsed = collapse_stats(z)
    assert collapsed["dead_dims"] == 0.5
    assert collapsed["effective_rank"] == pytest.approx(4, rel=0.05)
    assert collapsed["std_min"] == 0.0


# --- probes, rewards, images, rollouts -------------------------------------------------------


def test_linear_probe_recovers_planted_feature(rng):
    z = rng.normal(size=(600, 10))
    w = rng.normal(size=10)
    y = z @ w + 0.01 * rng.normal(size=600)
    res = linear_probe(z[:400], y[:400], z[400:], y[400:])
    assert res["r2"] > 0.99
    noise = linear_probe(z[:400], rng.normal(size=400), z[400:], rng.normal(size=200))
    assert noise["r2"] < 0.1


def test_linear_probe_categorical(rng):
    z = rng.normal(size=(600, 4))
    y = np.argmax(z @ rng.normal(size=(4, 3)), axis=1)  # linearly separable classes
    res = linear_probe(z[:400], y[:400], z[400:], y[400:], categorical=True)
    assert res["accuracy"] > 0.9 > res["chance"]


def test_linear_probe_constant_target_is_nan(rng):
    z = rng.normal(size=(50, 3))
    assert np.isnan(linear_probe(z, np.ones(50), z, np.ones(50))["r2"])


def test_event_probe_finds_a_rare_planted_event(rng):
    """3% events decided by one feature: detected; against noise: chance (AUROC ~0.5)."""
    x = rng.normal(size=(20000, 8))
    event = x[:, 2] > 1.9  # ~3% of rows
    res = event_probe(x[:10000], event[:10000], x[10000:], event[10000:])
    assert 0.01 < res["prevalence"] < 0.06
    assert res["auroc"] > 0.99 and res["average_precision"] > 0.8
    noise = rng.normal(size=(20000, 8))  # features that carry nothing about the event
    noise = event_probe(noise[:10000], event[:10000], noise[10000:], event[10000:])
    assert abs(noise["auroc"] - 0.5) < 0.1
    assert noise["average_precision"] < 3 * noise["prevalence"]


def test_event_probe_without_both_classes_is_nan(rng):
    x = rng.normal(size=(50, 3))
    res = event_probe(x, np.zeros(50), x, np.arange(50) < 5)
    assert np.isnan(res["auroc"]) and np.isnan(res["average_precision"])
    assert res["prevalence"] == pytest.approx(0.1)


def test_reward_metrics_known_values():
    true = np.array([0.0, 0.0, 1.0, 0.0, 2.0])
    res = reward_metrics(true, true)
    assert res["mse"] == 0 and res["r2"] == 1 and res["auroc_positive"] == 1
    zero = reward_metrics(true, np.zeros(5))
    assert zero["mse"] == pytest.approx(1.0)  # (1 + 4) / 5
    assert zero["mse_nonzero"] == pytest.approx(2.5)
    assert zero["mae_nonzero"] == pytest.approx(1.5)
    assert zero["auroc_positive"] == 0.5
    assert np.isnan(reward_metrics(np.zeros(4), np.zeros(4))["auroc_positive"])


def test_image_errors_known_values():
    a = np.zeros((2, 1, 4, 4))
    b = np.full((2, 1, 4, 4), 0.1)
    res = image_errors(a, b)
    assert res["l1"] == pytest.approx(0.1)
    assert res["mse"] == pytest.approx(0.01)
    assert res["psnr"] == pytest.approx(20.0)
    assert image_errors(a, a)["psnr"] == 100.0
    with pytest.raises(ValueError, match="pred"):
        image_errors(a, b[:1])
    assert "l1_changed" not in res


def test_image_errors_on_changed_pixels_score_motion_not_background():
    """A 2x2 sprite moves across an 8x8 black frame: copying is wrong exactly where it moved."""
    previous = np.zeros((1, 1, 8, 8))
    previous[..., 0:2, 0:2] = 1.0
    target = np.zeros((1, 1, 8, 8))
    target[..., 4:6, 4:6] = 1.0
    copy = image_errors(target, previous, previous=previous)
    assert copy["changed_share"] == pytest.approx(8 / 64)
    assert copy["l1_changed"] == pytest.approx(1.0)  # the full size of each change
    assert copy["l1"] == pytest.approx(8 / 64)  # diluted by the static background
    blank = image_errors(target, np.zeros_like(target), previous=previous)
    assert blank["l1_changed"] == pytest.approx(0.5)  # right where the sprite left only
    assert image_errors(target, target, previous=previous)["l1_changed"] == 0.0
    assert np.isnan(image_errors(target, target, previous=target)["l1_changed"])
    with pytest.raises(ValueError, match="previous"):
        image_errors(target, target, previous=previous[..., :4])


def test_normalised_latent_error(rng):
    z = rng.normal(size=(20000, 6)) * 5
    assert normalised_latent_error(z, z) == 0.0
    mean_pred = np.broadcast_to(z.mean(axis=0), z.shape)
    assert normalised_latent_error(mean_pred, z) == pytest.approx(1.0, rel=1e-3)
    assert normalised_latent_error(2 * z, 2 * z + 1) == pytest.approx(
        normalised_latent_error(z, z + 0.5)
    )


def test_the_fastest_logistic_solver_reaches_the_same_read_out(rng):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from wm_eval.metrics.probes import balanced_logistic

    x = rng.normal(size=(600, 20))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.5, 600)) > 1.0  # rare-ish, overlapping
    tall = balanced_logistic(2, *x.shape)
    assert tall.solver == "newton-cholesky"
    assert balanced_logistic(2, 100, 64).solver == balanced_logistic(4, *x.shape).solver == "lbfgs"
    wide = balanced_logistic(2, 100, 64).set_params(max_iter=5000, tol=1e-8)
    fits = [make_pipeline(StandardScaler(), m).fit(x, y) for m in (tall, wide)]
    scores = [f.decision_function(x) for f in fits]
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-4, atol=1e-4)
