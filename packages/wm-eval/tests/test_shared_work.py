"""The fast paths give the numbers of the direct computation: vectorised bootstrap intervals,
neighbourhood scores of several latents in one pass, and latents shared between subsamples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from wm_eval.latent_cache import StateLatents, state_ids, weights_digest
from wm_eval.metrics.neighbours import (
    continuity_per_point,
    knn_indices,
    neighbourhoods_per_point,
    trustworthiness_per_point,
    trustworthiness_per_point_many,
)
from wm_eval.metrics.reward import (
    auroc_measurement,
    average_precision_measurement,
    reward_measurements,
)
from wm_eval.probes.state_scores import average, variable_cells
from wm_eval.scoring import latent_error
from wm_eval.stats import Measurement


def _loop(m: Measurement) -> Measurement:
    return Measurement(m.episodes, m.statistic)  # no parts: the statistic per resample


def test_vectorised_intervals_match_the_per_resample_statistic() -> None:
    rng = np.random.default_rng(0)
    n = 600
    eps = rng.integers(0, 12, n)
    y = rng.normal(5, 2, n)
    p = y + rng.normal(0, 1, n)
    defined = rng.random(n) > 0.2
    yc = rng.integers(0, 3, n)
    pc = np.where(rng.random(n) < 0.7, yc, rng.integers(0, 3, n)).astype(float)
    cont = variable_cells(y, p, defined, eps, categorical=False)
    cat = variable_cells(yc, pc, defined, eps, categorical=True)
    cells = [
        Measurement.mean(y, eps),
        Measurement.pooled(np.abs(y), np.ones(n) * 2, eps),
        Measurement.mean(y, eps).minus(Measurement.mean(p, eps)),
        cont.score,
        cat.score,
        cat.skill,
        cat.f1,
        average([cont.skill, cat.skill]),
        latent_error(rng.normal(size=(n, 4)), rng.normal(1, 2, size=(n, 4)), eps),
    ]
    for m in cells:
        assert m.parts is not None
        fast, slow = m.interval(), _loop(m).interval()
        assert fast.value == slow.value
        np.testing.assert_allclose([fast.low, fast.high], [slow.low, slow.high], rtol=1e-9)


def test_rank_statistics_are_bootstrapped_on_window_weights() -> None:
    """AUROC and average precision (ties included) and the reward cells: every resample at
    once gives the interval of recomputing the statistic on each resample's windows."""
    rng = np.random.default_rng(2)
    n = 500
    eps = rng.integers(0, 15, n)
    rewards = np.where(rng.random(n) < 0.1, rng.choice([1.0, 4.0], n), 0.0)
    pred = np.round(rewards * 0.5 + rng.normal(0, 0.5, n), 1)  # rounded: many tied scores
    event = rewards > 0
    cells = [
        auroc_measurement(event, pred, eps),
        average_precision_measurement(event, pred, eps),
        auroc_measurement(event, np.zeros(n), eps),  # chance: every score tied
        auroc_measurement(event, pred, eps).minus(average_precision_measurement(event, pred, eps)),
        *reward_measurements(rewards, pred, eps).values(),
    ]
    for m in cells:
        assert m.vectorised() is not None
        fast, slow = m.interval(), _loop(m).interval()
        assert fast.value == slow.value
        np.testing.assert_allclose([fast.low, fast.high], [slow.low, slow.high], rtol=1e-9)
    from sklearn.metrics import average_precision_score, roc_auc_score

    assert cells[0].value == pytest.approx(roc_auc_score(event, pred))
    assert cells[1].value == pytest.approx(average_precision_score(event, pred))
    assert cells[2].value == 0.5


def test_neighbourhoods_of_several_latents_in_one_pass() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((120, 40)).astype(np.float32)
    zs = [rng.normal(size=(120, 3)) for _ in range(3)]
    many = trustworthiness_per_point_many(x, zs, n_neighbors=5, working_memory=1)
    for z, t in zip(zs, many, strict=True):
        np.testing.assert_array_equal(t, trustworthiness_per_point(x, z, n_neighbors=5))
        shared = continuity_per_point(x, z, n_neighbors=5, reference_neighbours=knn_indices(x, 5))
        np.testing.assert_array_equal(shared, continuity_per_point(x, z, n_neighbors=5))
    trust, cont = neighbourhoods_per_point(x, zs, n_neighbors=5, working_memory=1)
    for z, t, c in zip(zs, trust, cont, strict=True):  # one pass over the reference distances
        np.testing.assert_array_equal(t, trustworthiness_per_point(x, z, n_neighbors=5))
        np.testing.assert_array_equal(c, continuity_per_point(x, z, n_neighbors=5))


def test_states_are_encoded_once_whatever_asks_for_them() -> None:
    calls: list[int] = []

    def encode(x: torch.Tensor) -> np.ndarray:
        calls.append(len(x))
        return x.flatten(1).double().numpy()

    cache = StateLatents()
    frames = torch.arange(12.0).reshape(6, 2)
    ids = state_ids(np.zeros(6, np.int64), np.arange(6), 0)
    first = cache.get(ids[:4], frames[:4], encode)
    again = cache.get(ids[[5, 1, 2]], frames[[5, 1, 2]], encode)
    assert calls == [4, 1]
    np.testing.assert_array_equal(first, frames[:4].numpy())
    np.testing.assert_array_equal(again, frames[[5, 1, 2]].numpy())
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert weights_digest(a) == weights_digest(b) != weights_digest(nn.Linear(3, 2))
