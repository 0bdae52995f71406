"""The object-level state probe: known answers, category means, baselines, the full probe."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from wm_eval import EvalConfig, evaluate
from wm_eval.objects.assault import encode_x
from wm_eval.probes.ram_maps import ASSAULT, CATEGORIES, ram_map
from wm_eval.probes.state import (
    CONSTANT,
    MEAN,
    PIXELS,
    category_key,
    pooled_pixels,
    predictions,
    row_key,
    score_column,
    store_data,
    targets,
)
from wm_eval.probes.state_scores import (
    adjusted_balanced_accuracy,
    average,
    balanced_accuracy,
    fit_predict,
    r2,
)
from wm_eval.report import Report

VARIABLES = list(ASSAULT)
BY_NAME = {v.name: v for v in VARIABLES}
XS = np.arange(4, 150)  # screen x the player can take


def _ram(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random-but-valid Assault RAM rows and the planted player x of each."""
    ram = rng.integers(0, 256, (n, 128)).astype(np.uint8)
    x = rng.choice(XS, n)
    ram[:, 16] = [encode_x(int(v)) for v in x]
    ram[:, 101] = rng.integers(1, 5, n)
    return ram, x.astype(np.float64)


def _split(n: int, seed: int, n_episodes: int = 20):
    rng = np.random.default_rng(seed)
    ram, x = _ram(n, rng)
    episodes = np.sort(rng.integers(0, n_episodes, n)) + 1000 * seed
    return targets(VARIABLES, ram, episodes), x


def test_planted_player_x_is_read_from_a_latent_that_encodes_it_linearly():
    (train, x_tr), (test, x_te) = _split(1500, 0), _split(600, 1)
    rng = np.random.default_rng(2)
    w = rng.normal(size=(1, 32))

    def linear(x):
        return x[:, None] * w + rng.normal(scale=5.0, size=(len(x), 32))

    def noise(x):
        return rng.normal(size=(len(x), 32))

    read = score_column(VARIABLES, train, test, linear(x_tr), linear(x_te))
    assert read[row_key(BY_NAME["player_x"])].value > 0.9
    blind = score_column(VARIABLES, train, test, noise(x_tr), noise(x_te))
    assert abs(blind[row_key(BY_NAME["player_x"])].value) < 0.1
    assert abs(blind[category_key("agent")].value) < 0.1
    interval = read[row_key(BY_NAME["player_x"])].interval(n_resamples=200)
    assert interval.low <= interval.value <= interval.high and interval.n_episodes == 20


def test_planted_sprite_is_read_from_pooled_pixels():
    """Synthetic 64x64 frames with a bright 4-pixel sprite at the player's screen x."""
    (train, x_tr), (test, x_te) = _split(800, 0), _split(300, 1)

    def frames(x):
        f = torch.zeros(len(x), 2, 1, 64, 64, dtype=torch.uint8)
        for i, v in enumerate((x * 64 / 160).astype(int)):
            f[i, :, 0, 54:57, v : v + 4] = 255
        return pooled_pixels(f, context=2)

    assert frames(x_tr).shape == (800, 2 * 16 * 16)
    cells = score_column(VARIABLES, train, test, frames(x_tr), frames(x_te))
    assert cells[row_key(BY_NAME["player_x"])].value > 0.9


def test_category_mean_is_the_mean_of_its_members_skill():
    (train, _), (test, _) = _split(600, 0), _split(300, 1)
    rng = np.random.default_rng(3)
    z_tr, z_te = rng.normal(size=(600, 8)), rng.normal(size=(300, 8))
    cells = score_column(VARIABLES, train, test, z_tr, z_te)
    assert set(cells) >= {category_key(c) for c in CATEGORIES} | {MEAN}
    idx = np.arange(len(test.episodes))
    cats = {}
    for cat in CATEGORIES:
        members = [v for v in VARIABLES if v.category == cat]
        skills = []
        for v in members:
            m = cells[row_key(v)]
            if v.categorical:
                # the row shows balanced accuracy; the category averages its chance-adjusted form
                k = len(np.unique(test.values[v.name][test.defined[v.name]]))
                skills.append((m.statistic(idx) - 1 / k) / (1 - 1 / k))
            else:
                skills.append(m.statistic(idx))
        cats[cat] = np.nanmean(skills)
        assert cells[category_key(cat)].value == pytest.approx(cats[cat])
    assert cells[MEAN].value == pytest.approx(np.mean(list(cats.values())))
    # the same holds on any resample of episodes
    sub = idx[np.isin(test.episodes, np.unique(test.episodes)[:5])]
    enemy_members = [cells[row_key(BY_NAME[f"enemy_x[{j}]"])].statistic(sub) for j in range(3)]
    assert np.isfinite(enemy_members).all()


def test_constant_predictor_has_zero_skill_and_f1_is_reported():
    (train, _), (test, _) = _split(600, 0), _split(300, 1)
    cells = score_column(VARIABLES, train, test, None, None)
    assert cells[row_key(BY_NAME["lives"])].value == pytest.approx(0.25)  # 4 classes: 1/k
    for cat in ("agent", "resources"):
        assert cells[category_key(cat)].value == pytest.approx(0.0, abs=0.05)
    assert row_key(BY_NAME["lives"], "f1") in cells
    assert cells[row_key(BY_NAME["player_x"])].value <= 0.0


def test_enemy_x_is_scored_only_where_the_enemy_is_alive():
    """A latent holding enemy 0's x only while it is alive reads it perfectly there."""
    rng = np.random.default_rng(4)

    def split(n, seed):
        r = np.random.default_rng(seed)
        ram, _ = _ram(n, r)
        alive = r.random(n) < 0.6
        ram[:, 54] = np.where(alive, 192, 0)
        t = targets(VARIABLES, ram, np.sort(r.integers(0, 10, n)))
        ex = t.values["enemy_x[0]"]
        z = np.stack([np.where(alive, ex, 0.0), alive.astype(float)], axis=1)
        return t, z + rng.normal(scale=(0.5, 0.1), size=z.shape)

    (train, z_tr), (test, z_te) = split(800, 0), split(400, 1)
    cells = score_column(VARIABLES, train, test, z_tr, z_te)
    assert cells[row_key(BY_NAME["enemy_x[0]"])].value > 0.95
    assert cells[row_key(BY_NAME["enemy_present[0]"])].value > 0.95


def test_scores_and_average():
    y = np.array([0, 0, 0, 1.0])
    assert balanced_accuracy(y, np.zeros(4)) == 0.5  # majority: chance, not 0.75
    assert adjusted_balanced_accuracy(y, np.zeros(4)) == 0.0
    assert adjusted_balanced_accuracy(y, y) == 1.0
    assert np.isnan(adjusted_balanced_accuracy(np.zeros(3), np.zeros(3)))
    assert r2(np.array([1.0, 2, 3]), np.array([1.0, 2, 3])) == 1.0
    assert np.isnan(r2(np.ones(3), np.ones(3)))
    (train, _), (test, _) = _split(100, 0), _split(50, 1)
    a = score_column(VARIABLES, train, test, None, None)
    with pytest.raises(ValueError, match="same windows"):
        other = targets(VARIABLES, np.zeros((50, 128), np.uint8), np.arange(50))
        average([a[MEAN], score_column(VARIABLES, train, other, None, None)[MEAN]])


def test_game_without_a_map_gets_a_note_and_no_table():
    assert ram_map("ALE/Pong-v5") is None and ram_map("") is None
    assert ram_map("AssaultNoFrameskip-v4") == ASSAULT
    session = SimpleNamespace(report=Report(), config=None)
    src = SimpleNamespace(metadata={"env_id": "ALE/Pong-v5"})
    assert store_data(session, src) is None
    assert "no RAM decoding map" in session.report.notes[0]


SMALL = dict(device="cpu", batch_size=64, max_samples=48, probe_train_samples=160)


def test_state_probe_table_on_tiny_runs(runs, tmp_path):
    rep = evaluate([runs["jepa"]], tmp_path, EvalConfig(probes=("state",), **SMALL))
    t = rep.table("state")
    assert t is not None and t.split == "test"
    assert {PIXELS, CONSTANT} <= set(t.baselines)
    assert any(c.startswith("random-init") for c in t.baselines)
    for key in ("r2/player_x", "accuracy/lives", "f1/lives", "category/agent", MEAN):
        assert key in t.rows
        assert t.measurement(key, "jepa") is not None
    for v in VARIABLES:
        assert row_key(v) in t.rows
    assert t.label("r2/player_x") == "player_x (R²)"
    assert t.interval("r2/player_x", "jepa") is not None
    assert (tmp_path / "plots" / "state_probes.png").exists()


def test_shared_ridge_fit_equals_one_fit_per_variable():
    train, x_tr = _split(400, 0)
    rng = np.random.default_rng(5)
    z_tr = np.column_stack([x_tr, rng.normal(size=(400, 6))])
    z_te = rng.normal(size=(100, 7))
    shared = predictions(VARIABLES, train, z_tr, z_te, 100)
    for v in VARIABLES:
        if v.categorical:
            continue
        rows = train.defined[v.name]
        alone = fit_predict(z_tr[rows], train.values[v.name][rows], z_te, categorical=False)
        np.testing.assert_allclose(shared[v.name], alone, rtol=1e-6, atol=1e-6)
