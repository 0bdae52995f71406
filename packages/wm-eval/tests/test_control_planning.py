"""Planning with known answers: an oracle world model of a tiny deterministic game beats the
random policy by a clear margin, the same planner with an action-blind model does not, CEM
finds a planted best sequence, and batched rollouts equal one-sequence-at-a-time ones."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from wm_core import ConfigError
from wm_eval.planning import (
    CEM,
    ControlConfig,
    LatentModel,
    PlannerActions,
    RandomActions,
    RandomShooting,
    make_planner,
    play,
)
from wm_eval.probes.control import pearson_parts
from wm_eval.stats import BEATS, NO_BETTER, Measurement, compare
from wm_models import build

WIDTH, GOAL, LENGTH, CONTEXT = 9, 7, 20, 2
SEEDS = list(range(20))


class LineWorld(gym.Env):
    """A cell on a line of WIDTH cells, drawn as one lit pixel; actions left / stay / right;
    reward 1 for every step that ends on the goal cell. Starts left of the goal."""

    observation_space = gym.spaces.Box(0, 255, (1, 1, WIDTH), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def _obs(self) -> np.ndarray:
        obs = np.zeros((1, 1, WIDTH), np.uint8)
        obs[0, 0, self.x] = 255
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = int(self.np_random.integers(0, 4)), 0
        return self._obs(), {}

    def step(self, action):
        self.x = int(np.clip(self.x + int(action) - 1, 0, WIDTH - 1))
        self.t += 1
        return self._obs(), float(self.x == GOAL), False, self.t >= LENGTH, {}


class Position(nn.Module):
    """The oracle encoder: the lit cell of the newest frame, ``[B, T, 1, 1, W] -> [B, 1]``."""

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return frames[:, -1, 0, 0].argmax(-1, keepdim=True).float()


class Move(nn.Module):
    """The oracle predictor: the game's exact dynamics in latent space."""

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return (z + action.unsqueeze(-1).float() - 1).clamp(0, WIDTH - 1)


class OnGoal(nn.Module):
    """The oracle reward head: 1 when the next latent is the goal cell."""

    def forward(self, z: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        return (z_next[:, 0] == GOAL).float()


def oracle() -> LatentModel:
    return LatentModel(Position(), Move(), OnGoal(), num_actions=3)


def planner(name: str = "cem") -> RandomShooting:
    return make_planner(
        name, num_actions=3, candidates=64, horizon=8, discount=0.95, iterations=3, elites=8
    )


def returns(actor) -> tuple[Measurement, list]:
    episodes = play(LineWorld(), actor, SEEDS, max_steps=LENGTH, actor_seed=0)
    return Measurement.mean(np.array([e.ret for e in episodes]), np.array(SEEDS)), episodes


@pytest.fixture(scope="module")
def random_returns() -> Measurement:
    return returns(RandomActions(3))[0]


@pytest.mark.parametrize("name", ["cem", "random_shooting"])
def test_oracle_planner_beats_random_by_a_clear_margin(name, random_returns):
    actor = PlannerActions(oracle(), planner(name), CONTEXT, channels=1)
    planned, episodes = returns(actor)
    assert compare(planned, random_returns, "higher") == BEATS
    assert planned.value > random_returns.value + 8
    if name == "cem":  # from cell <= 3 the goal is <= 7 steps away, then it stays: >= 13 of 20
        assert planned.value >= 13
    # The oracle predicts every received reward exactly: a correlation of 1.
    for e in episodes:
        np.testing.assert_array_equal(e.predicted, e.rewards)
    ids = np.repeat(SEEDS, [e.length for e in episodes])
    pred = np.concatenate([e.predicted for e in episodes])
    recv = np.concatenate([e.rewards for e in episodes])
    assert pearson_parts(pred, recv, ids).value == pytest.approx(1.0)
    assert pearson_parts(pred, recv, ids).interval().low == pytest.approx(1.0)


def test_action_blind_planner_equals_random_within_its_interval(random_returns):
    blind = PlannerActions(oracle().action_blind(), planner("cem"), CONTEXT, channels=1)
    planned, _ = returns(blind)
    assert compare(planned, random_returns, "higher") == NO_BETTER
    diff = planned.minus(random_returns).interval()
    assert diff.low <= 0 <= diff.high
    assert diff.high - diff.low < 6  # an informative interval, not an empty test


class Planted:
    """Reward 1 per step where the action matches a planted sequence."""

    num_actions, device = 4, torch.device("cpu")

    def __init__(self, target: torch.Tensor) -> None:
        self.target = target
        self.calls = 0

    def rewards(self, actions: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return (actions == self.target).float()


def test_cem_finds_a_planted_sequence_that_one_round_of_shooting_misses():
    target = torch.tensor([3, 0, 2, 1, 1, 3])
    gen = torch.Generator().manual_seed(0)
    cem = CEM(4, candidates=64, horizon=6, discount=1.0, iterations=6, elites=8, smoothing=0.1)
    model = Planted(target)
    plan = cem.plan(model, gen)
    assert model.calls == 6
    assert torch.equal(plan.actions, target) and plan.score == 6
    assert plan.first == 3 and plan.rewards.tolist() == [1.0] * 6
    shot = RandomShooting(4, candidates=64, horizon=6, discount=1.0).plan(Planted(target), gen)
    assert shot.score < 6  # 64 uniform draws of 4^6 sequences: the full match is a 1.6% event


def test_batched_rollout_equals_one_sequence_at_a_time():
    torch.manual_seed(0)
    enc = build("encoder", "conv", frame_shape=(1, 16, 16), context=4, latent_dim=8, channels=(8,))
    pred = build("predictor", "mlp", latent_dim=8, num_actions=5, hidden_dim=16, depth=2)
    head = build("reward_head", "mlp", latent_dim=8, hidden_dim=16, depth=2)
    model = LatentModel(enc, pred, head, num_actions=5)
    state = np.random.default_rng(0).integers(0, 256, (4, 1, 16, 16), dtype=np.uint8)
    model.observe(state)
    seq = model.sequential()
    seq.observe(state)
    actions = torch.randint(5, (12, 4), generator=torch.Generator().manual_seed(1))
    batched, single = model.rewards(actions), seq.rewards(actions)
    assert batched.shape == (12, 4)
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)
    blind = model.action_blind()
    blind.observe(state)
    r = blind.rewards(actions)
    assert torch.allclose(r, r[:1].expand_as(r))  # every sequence predicts the same


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("planner", "cme", "ControlConfig.planner = 'cme'.*Did you mean 'cem'"),
        ("candidates", 0, r"ControlConfig.candidates = 0: must be an int >= 1"),
        ("discount", 1.5, r"ControlConfig.discount = 1.5: must be in \(0, 1\]"),
        ("elite_fraction", 0.0, "ControlConfig.elite_fraction"),
        ("episodes", 2.5, "ControlConfig.episodes"),
    ],
)
def test_bad_settings_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        ControlConfig(**{field: value})
