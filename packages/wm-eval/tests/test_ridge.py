"""GramRidgeCV: the leave-one-out ridge of the read-outs equals sklearn's RidgeCV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV

from wm_eval.baselines import RIDGE_ALPHAS as DYNAMICS_ALPHAS
from wm_eval.metrics.probes import RIDGE_ALPHAS
from wm_eval.metrics.ridge import GramRidgeCV


def design(n: int = 300, p: int = 40, t: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) * 0.3 + 2.0
    x[:, :5] = x[:, 5:10]  # collinear columns, as constant or duplicated pooled pixels give
    y = x @ rng.normal(size=(p, t)) + rng.normal(size=(n, t)) * np.geomspace(0.1, 30.0, t)
    return x, y, rng.normal(size=(50, p)) + 2.0


@pytest.mark.parametrize("per_target", [False, True])
def test_multi_target_fit_matches_sklearn(per_target: bool) -> None:
    x, y, x_new = design()
    ours = GramRidgeCV(RIDGE_ALPHAS, alpha_per_target=per_target).fit(x, y)
    ref = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=per_target, gcv_mode="svd").fit(x, y)
    np.testing.assert_allclose(ours.alpha_, ref.alpha_)
    np.testing.assert_allclose(ours.predict(x_new), ref.predict(x_new), rtol=1e-6, atol=1e-8)
    if per_target:  # noise levels differ by 300x: the targets pick different penalties
        assert len(set(np.ravel(ours.alpha_))) > 1


def test_single_target_fit_matches_sklearn_and_keeps_its_shape() -> None:
    x, y, x_new = design(seed=1)
    ours = GramRidgeCV(RIDGE_ALPHAS).fit(x, y[:, 1])
    ref = RidgeCV(alphas=RIDGE_ALPHAS, gcv_mode="svd").fit(x, y[:, 1])
    assert isinstance(ours.alpha_, float) and ours.alpha_ == ref.alpha_
    assert ours.predict(x_new).shape == (50,)
    np.testing.assert_allclose(ours.predict(x_new), ref.predict(x_new), rtol=1e-6, atol=1e-8)


def test_near_collapsed_latent_with_tiny_penalties_matches_sklearn() -> None:
    """Linear dynamics fits unstandardised latents with penalties down to 1e-6: a latent with
    dead dimensions (variance ~1e-10) must pick the same penalty and predict the same."""
    x, y, x_new = design(n=400, p=24, t=24, seed=2)
    x[:, 10:] = 1e-5 * x[:, 10:]
    ours = GramRidgeCV(DYNAMICS_ALPHAS).fit(x, y)
    ref = RidgeCV(alphas=DYNAMICS_ALPHAS, gcv_mode="svd").fit(x, y)
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.predict(x_new), ref.predict(x_new), rtol=1e-5, atol=1e-6)


def test_bad_inputs_name_the_problem() -> None:
    x, y, _ = design()
    with pytest.raises(ValueError, match="alphas must be positive"):
        GramRidgeCV((0.0, 1.0)).fit(x, y)
    with pytest.raises(ValueError, match="must be"):
        GramRidgeCV().fit(x, y[:10])
