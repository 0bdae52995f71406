"""Rollout baselines: linear dynamics, mean latent, shuffled actions, the two decoded rollout
protocols and the action probe, with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from wm_eval import EvalConfig, EvalSession
from wm_eval import columns as C
from wm_eval.baselines import LinearDynamics, open_loop, shuffled_actions
from wm_eval.data import per_episode
from wm_eval.evaluation import load_runs
from wm_eval.metrics import normalised_latent_error
from wm_eval.metrics.rollout import error_over_variance, squared_errors
from wm_eval.probes import action, rollout
from wm_eval.probes.rollout_pixels import (
    LATENT_LOOP,
    PIXEL_LOOP,
    decoded_rollout,
    decoded_rollouts,
)
from wm_eval.report import Report
from wm_eval.runs import discover

SMALL = dict(
    device="cpu", batch_size=64, max_samples=48, probe_train_samples=160, rollout_horizon=3
)


def make_session(runs, names, out, **config) -> EvalSession:
    """A session over real tiny runs whose modules a test may then replace."""
    cfg = EvalConfig(**{**SMALL, "probes": ("rollout",), "gif_samples": 1, **config})
    device = torch.device("cpu")
    groups, sources = load_runs(discover([runs[n] for n in names]), names, cfg, device, Report())
    return EvalSession(cfg, device, out, groups, sources)


# -- baselines ---------------------------------------------------------------------------------


def planted_system(rng, n=2000, d=6, num_actions=4):
    a_mat = rng.normal(size=(d, d)) * 0.3
    b_mat = rng.normal(size=(num_actions, d))
    bias = rng.normal(size=d)

    def step(z, a):
        return z @ a_mat.T + b_mat[a] + bias

    z = rng.normal(size=(n, d))
    actions = rng.integers(num_actions, size=n)
    return step, z, actions, step(z, actions)


def test_linear_dynamics_recovers_a_planted_linear_system():
    rng = np.random.default_rng(0)
    step, z, actions, z_next = planted_system(rng)
    model = LinearDynamics.fit(z, actions, z_next, num_actions=4)
    z0 = rng.normal(size=(300, 6))
    seq = rng.integers(4, size=(300, 5))
    truth, fitted = open_loop(step, z0, seq), open_loop(model, z0, seq)
    assert len(fitted) == 5
    for k in range(5):
        assert normalised_latent_error(fitted[k], truth[k]) < 1e-6


def test_linear_dynamics_without_action_information_falls_back_to_the_mean_step():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(500, 3))
    actions = rng.integers(3, size=500)
    model = LinearDynamics.fit(z, actions, z, num_actions=3)  # identity, actions irrelevant
    np.testing.assert_allclose(model(z[:5], np.array([0, 1, 2, 0, 1])), z[:5], atol=1e-3)


def test_absolute_linear_dynamics_is_the_least_absolute_deviations_fit():
    """The L1 baseline minimises the summed absolute error: it matches sklearn's median
    regression, and beats the ridge fit in L1 when a few transitions are outliers."""
    from sklearn.linear_model import QuantileRegressor

    rng = np.random.default_rng(1)
    _, z, actions, z_next = planted_system(rng, n=600, d=3)
    z_next = z_next + rng.laplace(scale=0.3, size=z_next.shape)
    z_next[:30] += 25.0  # outliers pull a least-squares fit, not a median fit
    lad = LinearDynamics.fit(z, actions, z_next, 4, loss="absolute")
    ridge = LinearDynamics.fit(z, actions, z_next, 4)
    x = np.concatenate([z, np.eye(4)[actions]], axis=1)
    for t in range(3):
        median_fit = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs")
        best = np.abs(z_next[:, t] - median_fit.fit(x, z_next[:, t]).predict(x)).mean()
        ours = np.abs(z_next[:, t] - lad(z, actions)[:, t]).mean()
        assert ours == pytest.approx(best, rel=2e-3)
    l1 = {
        name: np.abs(z_next - m(z, actions)).mean() for name, m in (("lad", lad), ("ridge", ridge))
    }
    assert l1["lad"] < 0.9 * l1["ridge"]
    with pytest.raises(ValueError, match="loss must be one of"):
        LinearDynamics.fit(z, actions, z_next, 4, loss="huber")


def test_shuffled_actions_permute_whole_sequences():
    actions = torch.arange(40).reshape(10, 4)
    shuffled = shuffled_actions(actions, seed=0)
    assert not torch.equal(shuffled, actions)
    assert sorted(map(tuple, shuffled.tolist())) == sorted(map(tuple, actions.tolist()))
    assert torch.equal(shuffled, shuffled_actions(actions, seed=0))


def test_error_over_variance_is_the_normalised_latent_error():
    rng = np.random.default_rng(2)
    z, pred = rng.normal(size=(100, 4)) * 3, rng.normal(size=(100, 4))
    assert error_over_variance(squared_errors(pred, z), z) == pytest.approx(
        normalised_latent_error(pred, z)
    )
    assert error_over_variance(np.zeros(3), np.ones((3, 2))) == 0.0


# -- decoded rollout protocols -----------------------------------------------------------------


class LastFrame(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1].flatten(1)


class Still(nn.Module):
    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return z


class Unflatten(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(len(z), *self.shape)


def test_a_copying_world_model_scores_copy_last_frame_under_both_protocols():
    rng = np.random.default_rng(3)
    frames = torch.from_numpy(rng.integers(0, 256, size=(10, 6, 1, 5, 5), dtype=np.uint8))
    actions = torch.zeros(10, 2, dtype=torch.long)
    modules = (LastFrame(), Still(), Unflatten((1, 5, 5)))
    x = frames.double().numpy() / 255
    copy = ((x[:, 4:6] - x[:, 3:4]) ** 2).reshape(10, 2, -1).mean(axis=2)
    for reencode in (True, False):
        errors, kept = decoded_rollout(
            modules, frames, actions, 4, reencode=reencode, device="cpu", batch_size=3, keep=4
        )
        np.testing.assert_allclose(errors, copy, rtol=1e-5)
        assert kept.shape == (4, 2, 1, 5, 5)


class Shift(nn.Module):
    """A predictor whose output is not a latent of any real frame (brightens every step)."""

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return z + 0.1


def test_protocols_agree_at_one_step_and_differ_after():
    rng = np.random.default_rng(4)
    frames = torch.from_numpy(rng.integers(0, 100, size=(6, 7, 1, 4, 4), dtype=np.uint8))
    actions = torch.zeros(6, 3, dtype=torch.long)

    class MeanFrames(nn.Module):  # the latent is the mean of the context: re-encoding matters
        def forward(self, x):
            return x.mean(dim=1).flatten(1)

    modules = (MeanFrames(), Shift(), Unflatten((1, 4, 4)))
    pixel, _ = decoded_rollout(modules, frames, actions, 4, reencode=True, device="cpu")
    latent, _ = decoded_rollout(modules, frames, actions, 4, reencode=False, device="cpu")
    np.testing.assert_allclose(pixel[:, 0], latent[:, 0])
    assert not np.allclose(pixel[:, 1:], latent[:, 1:])


def test_both_protocols_at_once_equal_each_alone_and_reuse_known_start_latents():
    rng = np.random.default_rng(5)
    frames = torch.from_numpy(rng.integers(0, 100, size=(7, 7, 1, 4, 4), dtype=np.uint8))
    actions = torch.zeros(7, 3, dtype=torch.long)

    class MeanFrames(nn.Module):
        def forward(self, x):
            return x.mean(dim=1).flatten(1)

    modules = (MeanFrames(), Shift(), Unflatten((1, 4, 4)))
    z0 = MeanFrames()(frames[:, :4].float() / 255).numpy()
    both = decoded_rollouts(modules, frames, actions, 4, device="cpu", batch_size=3, keep=2)
    known = decoded_rollouts(modules, frames, actions, 4, device="cpu", keep=2, z0=z0)
    for reencode, protocol in ((True, PIXEL_LOOP), (False, LATENT_LOOP)):
        alone, _ = decoded_rollout(modules, frames, actions, 4, reencode=reencode, device="cpu")
        np.testing.assert_allclose(both[protocol][0], alone, rtol=1e-6)
        np.testing.assert_allclose(known[protocol][0], alone, rtol=1e-6)
        assert both[protocol][1].shape == (2, 3, 1, 4, 4)


def test_windows_per_episode_keep_every_episode_evenly_spread():
    episodes = np.repeat([7, 3, 9], [10, 2, 5])
    pick = per_episode(episodes, 4)
    assert list(pick) == sorted(pick)
    assert sorted(set(episodes[pick])) == [3, 7, 9]  # every episode stays
    assert list(pick[episodes[pick] == 7]) == [0, 3, 6, 9]  # first and last, evenly between
    assert list(pick[episodes[pick] == 3]) == [10, 11]  # fewer than 4: all of them
    assert len(per_episode(episodes, 100)) == len(episodes)


# -- the probe on real tiny runs ---------------------------------------------------------------


class ActionBlind(nn.Module):
    """The trained predictor with its action replaced by action 0: it cannot use the action."""

    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.predictor(z, torch.zeros_like(action))


@pytest.fixture(scope="module")
def tables(runs, tmp_path_factory):
    session = make_session(runs, ["jepa", "encoder_decoder"], tmp_path_factory.mktemp("rollout"))
    return rollout.run(session), session


def test_latent_table_rows_columns_and_baselines(tables):
    (latent, *_), session = tables
    assert latent.name == rollout.LATENT_TABLE == "rollout_latent"
    assert list(latent.rows) == ["k=1", "k=2", "k=3"]
    for run in ("jepa", "encoder_decoder"):
        names = [
            C.copy_latent(run),
            C.mean_latent(run),
            C.linear_dynamics(run),
            C.shuffled_actions(run),
            C.linear_shuffled(run),
        ]
        assert set(names) <= set(latent.baselines) and run not in latent.baselines
        for k in latent.rows:
            for col in (run, *names):
                assert latent.value(k, col) is not None and latent.measurement(k, col)
            assert latent.value(k, C.mean_latent(run)) > 0.5  # about 1: it knows nothing
    # the copy-latent cell is the same figure as before, now with its windows' episodes
    src, cfg = session.sources["jepa"], session.config
    target = session.groups[0].world.get("target_encoder")
    z0, z2 = (session.latents(target, src, "test", 3, cfg.max_samples, k) for k in (0, 2))
    assert latent.value("k=2", C.copy_latent("jepa")) == pytest.approx(
        normalised_latent_error(z0, z2)
    )


def test_differences_are_each_run_minus_its_baselines_paired(tables):
    (latent, differences, *_), _ = tables
    assert differences.name == rollout.DIFFERENCE_TABLE
    assert list(differences.rows) == list(latent.rows)
    assert differences.baselines == [rollout.NO_DIFFERENCE]
    assert all(differences.value(k, rollout.NO_DIFFERENCE) == 0 for k in differences.rows)
    for run in ("jepa", "encoder_decoder"):
        for suffix, base in (
            (C.LINEAR_SUFFIX, C.linear_dynamics(run)),
            (C.COPY_LATENT_SUFFIX, C.copy_latent(run)),
            (C.SHUFFLED_SUFFIX, C.shuffled_actions(run)),
        ):
            column = rollout.difference_column(run, suffix)
            for k in latent.rows:
                gap = differences.value(k, column)
                assert gap == pytest.approx(latent.value(k, run) - latent.value(k, base))
                interval = differences.measurement(k, column).interval()
                assert interval.low <= gap <= interval.high
    # paired: the interval of a difference is far narrower than either figure's own interval
    col = rollout.difference_column("jepa", C.SHUFFLED_SUFFIX)
    paired = differences.measurement("k=1", col).interval()
    alone = latent.measurement("k=1", "jepa").interval()
    assert paired.high - paired.low < alone.high - alone.low
    assert rollout.difference_column("jepa", C.LINEAR_SUFFIX) == "jepa − linear dynamics"


def test_l1_tables_score_every_column_in_the_l1_metric(tables):
    """The L1 table is the squared table's twin: same columns and rows, each cell the mean
    ‖ẑ − z‖₁ over the targets' spread around their median, the linear baseline fit in L1."""
    (latent, _, latent_l1, differences_l1, _), session = tables
    assert (latent_l1.name, differences_l1.name) == (
        "rollout_latent_l1",
        "rollout_latent_l1_differences",
    )
    ridge_columns = [C.linear_ridge(run) for run in ("jepa", "encoder_decoder")]
    as_squared = [
        c.replace(C.MEDIAN_LATENT_SUFFIX, C.MEAN_LATENT_SUFFIX)
        for c in latent_l1.columns
        if c not in ridge_columns
    ]
    assert as_squared == latent.columns
    assert set(ridge_columns) <= set(latent_l1.baselines)
    assert list(latent_l1.rows) == list(latent.rows)
    src, cfg = session.sources["jepa"], session.config
    target = session.groups[0].world.get("target_encoder")
    z0, z2 = (session.latents(target, src, "test", 3, cfg.max_samples, k) for k in (0, 2))
    spread = np.abs(z2 - np.median(z2, axis=0)).sum(axis=1).mean()
    assert latent_l1.value("k=2", C.copy_latent("jepa")) == pytest.approx(
        np.abs(z0 - z2).sum(axis=1).mean() / spread
    )
    linear, median = rollout.fit_linear_dynamics(session, target, src, "absolute")
    z1 = session.latents(target, src, "test", 3, cfg.max_samples, 1)
    spread1 = np.abs(z1 - np.median(z1, axis=0)).sum(axis=1).mean()
    assert latent_l1.value("k=1", C.median_latent("jepa")) == pytest.approx(
        np.abs(median - z1).sum(axis=1).mean() / spread1
    )
    assert linear.loss == "absolute"
    train = session.latents(target, src, "train", 1, cfg.probe_train_samples, 0)
    np.testing.assert_allclose(median, np.median(train, axis=0))
    ridge, _ = rollout.fit_linear_dynamics(session, target, src)
    actions = src.batch(cfg.split, 3, cfg.max_samples, cfg.seed)["actions"].numpy()
    ridge_z2 = open_loop(ridge, z0, actions)[1]  # the squared table's fit, scored in L1
    assert latent_l1.value("k=2", C.linear_ridge("jepa")) == pytest.approx(
        np.abs(ridge_z2 - z2).sum(axis=1).mean() / spread
    )
    for k in latent_l1.rows:  # each difference is run minus baseline, both linear fits
        for suffix, base in (
            (C.LINEAR_SUFFIX, C.linear_dynamics("jepa")),
            (C.LINEAR_RIDGE_SUFFIX, C.linear_ridge("jepa")),
        ):
            assert differences_l1.value(
                k, rollout.difference_column("jepa", suffix)
            ) == pytest.approx(latent_l1.value(k, "jepa") - latent_l1.value(k, base))


def test_pixel_table_protocols_and_baselines(tables):
    (*_, pixels), session = tables
    assert pixels.columns[:4] == [
        "jepa/jepa_decoder/latent loop",  # each decoder's own protocol first
        "jepa/jepa_decoder/pixel loop",
        "encoder_decoder/pixel loop",
        "encoder_decoder/latent loop",
    ]
    assert pixels.baselines == [C.COPY_FRAME, C.MEAN_FRAME, C.MEDIAN_FRAME, C.BLUR_FRAME]
    for decoder in ("jepa/jepa_decoder", "encoder_decoder"):
        one = [pixels.value("k=1", f"{decoder}/{p}") for p in ("pixel loop", "latent loop")]
        assert one[0] == pytest.approx(one[1], rel=1e-6)
    for k in pixels.rows:
        for col in pixels.columns:
            assert 0 <= pixels.value(k, col) <= 1 and pixels.measurement(k, col)
    plots = session.out_dir / "plots"
    assert (plots / "rollout_latent.png").is_file() and (plots / "rollout_pixels.png").is_file()
    assert (plots / "rollout_encoder_decoder_pixel_loop.gif").is_file()


def test_decoders_score_the_chosen_windows_of_every_episode(runs, tmp_path):
    session = make_session(runs, ["encoder_decoder"], tmp_path, decoded_per_episode=2)
    *_, pixels = rollout.run(session)
    src, cfg = session.sources["encoder_decoder"], session.config
    scored = session.episodes(src, "test", 3, cfg.max_samples)
    n_episodes = len(np.unique(scored))
    assert n_episodes >= 5 and len(scored) > 2 * n_episodes  # the thinning is exercised
    assert pixels.coverage() == [(n_episodes, 2 * n_episodes)]  # the split line says so
    for col in pixels.columns:  # models and baselines on the very same windows: paired
        assert len(pixels.measurement("k=3", col).episodes) == 2 * n_episodes


def test_shuffled_actions_equal_the_model_for_an_action_blind_predictor(runs, tmp_path):
    session = make_session(runs, ["jepa"], tmp_path)
    g = session.groups[0]
    g.world.modules["predictor"] = ActionBlind(g.predictor)
    latent, *_ = rollout.run(session)
    for k in latent.rows:
        assert latent.value(k, C.shuffled_actions("jepa")) == latent.value(k, "jepa")


def test_linear_dynamics_fed_shuffled_actions_is_the_linear_fit_on_other_actions(tables):
    """The yardstick column: the same ridge rolled out with the shuffled action sequences."""
    (latent, *_), session = tables
    src, cfg, g = session.sources["jepa"], session.config, session.groups[0]
    target = g.world.get("target_encoder")
    actions = src.batch(cfg.split, 3, cfg.max_samples, cfg.seed)["actions"]
    linear, _ = rollout.fit_linear_dynamics(session, target, src)
    z0 = session.latents(target, src, cfg.split, 3, cfg.max_samples, 0)
    z1 = session.latents(target, src, cfg.split, 3, cfg.max_samples, 1)
    pred = open_loop(linear, z0, shuffled_actions(actions, cfg.seed).numpy())[0]
    assert latent.value("k=1", C.linear_shuffled("jepa")) == pytest.approx(
        normalised_latent_error(pred, z1)
    )


# -- the action probe: the agent's displacement read from predicted latents -------------------


class AsModule(nn.Module):
    """A numpy ``step(z, a)`` (the linear dynamics baseline) as a predictor module."""

    def __init__(self, step) -> None:
        super().__init__()
        self.step = step

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.step(z.double().numpy(), a.numpy())).float()


def _session(runs, tmp_path):
    return make_session(runs, ["jepa", "encoder_decoder"], tmp_path, probes=("action",))


def test_table_holds_every_run_step_and_baseline(runs, tmp_path):
    (table,) = action.run(_session(runs, tmp_path))
    assert list(table.rows) == [f"player_x/k={k}" for k in (1, 2, 3)]
    for run in ("jepa", "encoder_decoder"):
        names = [C.shuffled_actions(run), C.linear_dynamics(run), run + action.TRUE_NEXT]
        assert set(names) <= set(table.baselines) and run in table.columns
        for k in table.rows:
            for col in (run, *names):
                m = table.measurement(k, col)
                assert m is not None and np.isfinite(table.value(k, col))
    assert action.agent_variables("ALE/Assault-v5")[0].name == "player_x"
    assert action.agent_variables("ALE/Pong-v5") == []  # no RAM map: no table


def test_an_action_blind_predictor_scores_like_its_shuffled_actions(runs, tmp_path):
    session = _session(runs, tmp_path)
    g = session.groups[0]
    g.world.modules["predictor"] = ActionBlind(g.predictor)
    (table,) = action.run(session)
    for k in table.rows:
        assert table.value(k, "jepa") == table.value(k, C.shuffled_actions("jepa"))


def test_a_predictor_that_is_the_linear_baseline_scores_like_it(runs, tmp_path):
    session = _session(runs, tmp_path)
    g = session.groups[0]
    target = rollout.latent_target(g)
    linear, _ = rollout.fit_linear_dynamics(session, target, session.source(g))
    g.world.modules["encoder"] = target  # the rollout then starts from z₀ as the baseline does
    g.world.modules["predictor"] = AsModule(linear)
    (table,) = action.run(session)
    for k in table.rows:
        assert table.value(k, "jepa") == pytest.approx(
            table.value(k, C.linear_dynamics("jepa")), rel=1e-4, abs=1e-4
        )
