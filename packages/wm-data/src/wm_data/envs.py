"""Atari environments with the preprocessing every part of the workbench agrees on.

One function builds the env so the collector, the PPO agent and the benchmarks see identical
observations: frameskip runs inside the emulator (so the setting asked for is the setting used),
frames are resized with area interpolation, optionally grayscale, laid out channels-first and
stacked along the channel axis (zero-padded at reset, like
ale-py's native vector env and SB3's VecFrameStack): observation ``[frame_stack * C, H, W]`` uint8.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit

gym.register_envs(ale_py)
ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)

DEFAULT_ENV_ID = "ALE/Assault-v5"


@dataclass(frozen=True)
class EnvSpec:
    """Every setting that changes what an observation or a step means (stored with the data)."""

    env_id: str = DEFAULT_ENV_ID
    frameskip: int = 4
    size: int = 64
    grayscale: bool = True
    frame_stack: int = 4
    sticky: float = 0.0
    full_action_space: bool = False
    max_episode_steps: int | None = None
    noop_max: int = 30

    def __post_init__(self) -> None:
        if not isinstance(self.env_id, str) or not self.env_id:
            raise ValueError(f"env_id must be a non-empty gym id, got {self.env_id!r}")
        for name in ("frameskip", "size", "frame_stack"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 <= float(self.sticky) <= 1.0:
            raise ValueError(f"sticky must be a probability in [0, 1], got {self.sticky!r}")
        if self.noop_max < 0:
            raise ValueError(f"noop_max must be >= 0, got {self.noop_max!r}")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(
                f"max_episode_steps must be a positive int or None, got {self.max_episode_steps!r}"
            )

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """Shape of one stored frame, ``(C, H, W)``."""
        return (self.channels, self.size, self.size)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChannelsFirstStack(gym.ObservationWrapper):
    """``[stack, H, W, C]`` -> ``[stack * C, H, W]`` so CNN policies and stores share one layout."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        stack, h, w, c = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 255, (stack * c, h, w), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        obs = np.asarray(observation)
        stack, h, w, c = obs.shape
        if c == 1:
            return obs.reshape(stack, h, w)
        return np.ascontiguousarray(obs.transpose(0, 3, 1, 2)).reshape(stack * c, h, w)


def make_env(
    env_id: str = DEFAULT_ENV_ID,
    *,
    frameskip: int = 4,
    size: int = 64,
    grayscale: bool = True,
    frame_stack: int = 4,
    sticky: float = 0.0,
    full_action_space: bool = False,
    max_episode_steps: int | None = None,
    noop_max: int = 30,
    seed: int | None = None,
) -> gym.Env:
    """Build one preprocessed Atari env; observation ``uint8 [frame_stack * C, size, size]``.

    ``frameskip`` is applied by the emulator itself (ALE repeats the action), so one env step
    advances exactly ``frameskip`` emulator frames; sticky actions default to off.
    """
    spec = EnvSpec(
        env_id=env_id,
        frameskip=frameskip,
        size=size,
        grayscale=grayscale,
        frame_stack=frame_stack,
        sticky=sticky,
        full_action_space=full_action_space,
        max_episode_steps=max_episode_steps,
        noop_max=noop_max,
    )
    return make_env_from_spec(spec, seed=seed)


def make_env_from_spec(spec: EnvSpec, *, seed: int | None = None) -> gym.Env:
    """:func:`make_env` taking an :class:`EnvSpec`."""
    try:
        env = gym.make(
            spec.env_id,
            frameskip=int(spec.frameskip),
            repeat_action_probability=float(spec.sticky),
            full_action_space=bool(spec.full_action_space),
        )
    except gym.error.Error as exc:
        raise ValueError(f"env_id {spec.env_id!r} cannot be built: {exc}") from exc
    env = AtariPreprocessing(
        env,
        noop_max=int(spec.noop_max),
        frame_skip=1,
        screen_size=int(spec.size),
        grayscale_obs=bool(spec.grayscale),
        grayscale_newaxis=True,
    )
    if spec.max_episode_steps is not None:
        # Outside the no-op resets, so the limit counts agent steps only.
        env = TimeLimit(env, int(spec.max_episode_steps))
    env = FrameStackObservation(env, int(spec.frame_stack), padding_type="zero")
    env = ChannelsFirstStack(env)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def ale_of(env: gym.Env) -> ale_py.ALEInterface:
    """The emulator behind a (wrapped) env, for RAM and frame counters."""
    return env.unwrapped.ale


def action_meanings(env: gym.Env) -> list[str]:
    return list(env.unwrapped.get_action_meanings())


def game_name(env_id: str) -> str:
    """``'ALE/Assault-v5'`` -> ``'assault'``, the ROM name ale-py's native vector env wants."""
    name = env_id.split("/")[-1].split("-v")[0]
    if name.endswith("NoFrameskip"):
        name = name[: -len("NoFrameskip")]
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
