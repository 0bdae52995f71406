from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from wm_data.envs import EnvSpec, ale_of, game_name, make_env
from wm_data.vector import make_vec_env


@pytest.mark.parametrize("frameskip", [1, 3, 5])
def test_frameskip_sets_emulator_frames_per_step(frameskip: int) -> None:
    env = make_env(frameskip=frameskip, size=16, noop_max=0, seed=0)
    ale = ale_of(env)
    start = ale.getEpisodeFrameNumber()
    for _ in range(7):
        env.step(0)
    assert ale.getEpisodeFrameNumber() - start == 7 * frameskip
    env.close()


def test_sticky_actions_default_off() -> None:
    env = make_env(size=16)
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == 0.0
    env = make_env(size=16, sticky=0.25)
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("grayscale", "stack", "shape"), [(True, 4, (4, 20, 20)), (False, 2, (6, 20, 20))]
)
def test_observation_is_channels_first_stack(grayscale: bool, stack: int, shape: tuple) -> None:
    env = make_env(size=20, grayscale=grayscale, frame_stack=stack, seed=1)
    obs, _ = env.reset(seed=1)
    assert obs.shape == shape == env.observation_space.shape
    assert obs.dtype == np.uint8
    for _ in range(5):
        obs, *_ = env.step(1)
    assert obs.shape == shape


def test_full_action_space_and_step_limit() -> None:
    env = make_env(size=16, full_action_space=True, max_episode_steps=5, seed=0)
    assert env.action_space.n == 18
    env.reset(seed=0)
    ends = [env.step(0)[2:4] for _ in range(5)]
    assert ends[-1] == (False, True) and not any(any(e) for e in ends[:-1])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"frameskip": 0}, "frameskip"), ({"size": -2}, "size"), ({"sticky": 2.0}, "sticky")],
)
def test_bad_settings_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make_env(**kwargs)


def test_unknown_env_id() -> None:
    with pytest.raises(ValueError, match="env_id"):
        make_env("ALE/NoSuchGame-v5")


@pytest.mark.parametrize(
    ("env_id", "game"),
    [
        ("ALE/Assault-v5", "assault"),
        ("ALE/SpaceInvaders-v5", "space_invaders"),
        ("SpaceInvadersNoFrameskip-v4", "space_invaders"),
        ("ALE/SpaceInvaders-ram-v5", "space_invaders"),
        ("AssaultDeterministic-v4", "assault"),
        ("ALE/MontezumaRevenge-v5", "montezuma_revenge"),
        ("ALE/TicTacToe3D-v5", "tic_tac_toe_3d"),
        ("ALE/Pitfall2-v5", "pitfall2"),
        ("Custom/MyGame-v0", "my_game"),
    ],
)
def test_game_name(env_id: str, game: str) -> None:
    assert game_name(env_id) == game


def test_game_name_is_a_rom_id_for_every_registered_atari_env() -> None:
    from ale_py.roms import get_all_rom_ids

    roms = set(get_all_rom_ids())
    ids = [i for i in gym.registry if i.startswith("ALE/")]
    assert ids and {i: game_name(i) for i in ids if game_name(i) not in roms} == {}


def test_env_spec_is_the_one_configuration() -> None:
    spec = EnvSpec(size=20, frame_stack=2, grayscale=False)
    assert EnvSpec.coerce(spec) is spec
    assert EnvSpec.coerce(spec, size=24) == EnvSpec(size=24, frame_stack=2, grayscale=False)
    assert EnvSpec.coerce("ALE/Pong-v5", size=20).env_id == "ALE/Pong-v5"
    assert spec.observation_shape == (6, 20, 20) and spec.game == "assault"
    assert make_env(spec, seed=0).observation_space.shape == spec.observation_shape
    with pytest.raises(TypeError, match="colour"):
        make_env(size=16, colour=True)


def test_env_spec_round_trips_through_metadata() -> None:
    spec = EnvSpec(size=20, sticky=0.25, max_episode_steps=50, noop_max=0)
    meta = spec.metadata()
    assert meta["obs_shape"] == [1, 20, 20] and meta["env_spec"]["id"] == spec.env_id
    assert EnvSpec.from_metadata(meta) == spec
    assert EnvSpec.from_metadata({"env_id": "ALE/Pong-v5"}) == EnvSpec(env_id="ALE/Pong-v5")
    with pytest.raises(ValueError, match="obs_shape"):
        EnvSpec.from_metadata({**meta, "obs_shape": [3, 20, 20]})
    with pytest.raises(ValueError, match="env_id"):
        EnvSpec.from_metadata({"size": 20})


@pytest.mark.parametrize("grayscale", [True, False])
def test_native_vector_env_reproduces_make_env(grayscale: bool) -> None:
    env = make_env(size=24, grayscale=grayscale, frame_stack=2, noop_max=0)
    venv = make_vec_env(
        2, size=24, grayscale=grayscale, frame_stack=2, noop_max=0, backend="native"
    )
    assert venv.wm_backend == "ale_py.AtariVectorEnv"
    obs, _ = env.reset(seed=3)
    vobs, _ = venv.reset(seed=3)
    assert vobs.shape == (2, *obs.shape)
    np.testing.assert_array_equal(vobs[0], obs)
    rng = np.random.default_rng(0)
    for _ in range(30):
        a = int(rng.integers(0, env.action_space.n))
        obs, r, *_ = env.step(a)
        vobs, vr, *_ = venv.step(np.array([a, a]))
        np.testing.assert_array_equal(vobs[0], obs)
        assert vr[0] == r
    venv.close()


def test_sync_vector_env_and_bad_backend() -> None:
    spec = EnvSpec(size=16, max_episode_steps=10)
    venv = make_vec_env(2, spec, backend="sync", seed=0)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (2, 4, 16, 16)
    venv.close()
    with pytest.raises(ValueError, match="backend"):
        make_vec_env(2, size=16, backend="threads")
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_vec_env(2, size=16, backend="native", max_episode_steps=10)
