"""Baselines (random-init encoder, copy predictors) and RAM state variables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wm_eval.baselines import CopyLatentPredictor, copy_last_frame, random_encoder, spec_key
from wm_eval.probes.ram_maps import (
    ASSAULT,
    CATEGORIES,
    assault_score,
    select_variables,
    state_matrix,
)
from wm_models import build, module_spec


@pytest.fixture
def encoder() -> torch.nn.Module:
    torch.manual_seed(123)
    return build("encoder", "conv", frame_shape=(1, 16, 16), context=2, latent_dim=8, channels=(4,))


def test_random_encoder_same_architecture_fixed_seed(encoder):
    a, b = random_encoder(encoder, seed=0), random_encoder(encoder, seed=0)
    c = random_encoder(encoder, seed=1)
    assert module_spec(a) == module_spec(encoder) and spec_key(a) == spec_key(encoder)
    sa, sb, sc, se = (m.state_dict() for m in (a, b, c, encoder))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())
    assert any(not torch.equal(sa[k], se[k]) for k in sa if sa[k].is_floating_point())
    # building the baseline does not disturb the global RNG
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    random_encoder(encoder, seed=0)
    assert torch.equal(torch.rand(1), expected)
    x = torch.rand(3, 2, 1, 16, 16)
    assert a(x).shape == (3, 8)


def test_copy_predictors():
    z = torch.randn(4, 8)
    assert torch.equal(CopyLatentPredictor()(z, torch.zeros(4, dtype=torch.long)), z)
    frames = torch.arange(2 * 5 * 3).reshape(2, 5, 1, 1, 3)
    assert torch.equal(copy_last_frame(frames, context=4), frames[:, 3])


@pytest.mark.parametrize(
    "env_id",
    ["ALE/Assault-v5", "AssaultNoFrameskip-v4", "AssaultDeterministic-v4", "ALE/Assault-ram-v5"],
)
def test_every_form_of_an_env_id_finds_the_ram_map(env_id):
    """The lookup goes through wm_data.envs.game_name, whatever form of the name it returns."""
    ram = np.zeros((4, 128), dtype=np.uint8)
    assert select_variables(env_id, ram, top_bytes=4) == list(ASSAULT)


def test_assault_map_and_bcd_score():
    ram = np.zeros((2, 128), dtype=np.uint8)
    ram[0, :3] = [0x01, 0x23, 0x45]  # packed BCD: 01 23 45 -> 12345
    ram[1, :3] = [0x00, 0x00, 0x21]
    np.testing.assert_array_equal(assault_score(ram), [12345, 21])
    variables = select_variables("ALE/Assault-v5", ram, top_bytes=4)
    assert variables == list(ASSAULT)
    names = [v.name for v in variables]
    assert {"score", "player_x", "mothership_x", "lives", "heat", "overheat"} <= set(names)
    assert next(v for v in variables if v.name == "lives").categorical
    assert {v.category for v in variables} == set(CATEGORIES)


def test_assault_variables_are_screen_quantities():
    """Decoded, not raw: the player's byte 181 is x = 65 on screen; heat counts gauge bits."""
    ram = np.zeros((2, 128), dtype=np.uint8)
    ram[:, 16] = [181, 53]
    ram[:, 28:30] = [[252, 0], [255, 3]]
    ram[:, 54] = [192, 0]
    by_name = {v.name: v for v in ASSAULT}
    np.testing.assert_array_equal(by_name["player_x"].read(ram), [65, 57])
    np.testing.assert_array_equal(by_name["heat"].read(ram), [6, 10])
    np.testing.assert_array_equal(by_name["enemy_x[0]"].where(ram), [True, False])
    assert by_name["player_x"].where(ram).all()


def test_other_games_use_highest_variance_bytes():
    rng = np.random.default_rng(0)
    ram = np.zeros((500, 128), dtype=np.uint8)
    ram[:, 7] = rng.integers(0, 256, 500)  # high variance, many values -> regression
    ram[:, 90] = rng.integers(0, 3, 500) * 40  # three values -> categorical
    ram[:, 3] = rng.integers(0, 2, 500)  # low variance
    variables = select_variables("ALE/Pong-v5", ram, top_bytes=2)
    assert [(v.name, v.categorical) for v in variables] == [("ram[7]", False), ("ram[90]", True)]
    with pytest.raises(ValueError, match="train_ram"):
        select_variables("ALE/Pong-v5", ram[:, :64], top_bytes=2)


def test_state_matrix_standardises_and_drops_constants():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (200, 128)).astype(np.uint8)
    train[:, 16] = 7  # player_x constant -> dropped
    train[:, 55] = 0  # enemy 1 never alive: its x takes the fill value, its presence is constant
    x = state_matrix(train, list(ASSAULT), train)
    assert x.shape == (200, len(ASSAULT) - 3)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-9)
    raw = select_variables("ALE/Pong-v5", train, top_bytes=4)
    assert state_matrix(train, raw, train).shape == (200, 4)
