"""Atari environments with the preprocessing every part of the workbench agrees on.

One :class:`EnvSpec` holds every setting that changes what an observation or a step means. The
same spec builds the env (:func:`make_env`), the vector env, the PPO agent and the collector,
and is written into the store's metadata, so :meth:`EnvSpec.from_metadata` rebuilds the exact
env a store was collected in. Frameskip runs inside the emulator (the setting asked for is the
setting used), frames are resized with area interpolation, optionally grayscale, laid out
channels-first and stacked along the channel axis (zero-padded at reset, like ale-py's native
vector env and SB3's VecFrameStack): observation ``[frame_stack * C, H, W]`` uint8.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit

gym.register_envs(ale_py)
ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)

DEFAULT_ENV_ID = "ALE/Assault-v5"

# How frames are made from the emulator screen; fixed, and recorded with every store.
PREPROCESSING = {
    "resize": "cv2.INTER_AREA",
    "maxpool": False,
    "frame_skip_in_emulator": True,
    "terminal_on_life_loss": False,
    "reward_clipping": False,
    "fire_reset": False,
}


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

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def coerce(cls, env: EnvSpec | str = DEFAULT_ENV_ID, **settings: Any) -> EnvSpec:
        """A spec from a spec or an env id, with ``settings`` overriding its fields.

        Unknown setting names fail with ``TypeError`` naming them, as a dataclass does.
        """
        if isinstance(env, EnvSpec):
            return env.replace(**settings) if settings else env
        return cls(**{"env_id": env, **settings})

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> EnvSpec:
        """The spec a store (or an agent sidecar's ``env``) was made with.

        Fields the metadata lacks keep their defaults; when it records ``obs_shape``, that
        must agree with the rebuilt spec, so a reader never plays a different game than the one
        stored.
        """
        if "env_id" not in metadata:
            raise ValueError("metadata has no env_id, so it describes no environment")
        values = {k: metadata[k] for k in cls.field_names() if k in metadata}
        for name in ("frameskip", "size", "frame_stack", "noop_max"):
            if name in values:
                values[name] = int(values[name])
        if values.get("max_episode_steps") is not None:
            values["max_episode_steps"] = int(values["max_episode_steps"])
        for name in ("grayscale", "full_action_space"):
            if name in values:
                values[name] = bool(values[name])
        if "sticky" in values:
            values["sticky"] = float(values["sticky"])
        spec = cls(**values)
        shape = metadata.get("obs_shape")
        if shape is not None and tuple(int(v) for v in shape) != spec.frame_shape:
            raise ValueError(
                f"metadata obs_shape {list(shape)} does not match the env settings "
                f"(frames of shape {list(spec.frame_shape)})"
            )
        return spec

    def replace(self, **settings: Any) -> EnvSpec:
        return dataclasses.replace(self, **settings)

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """Shape of one stored frame, ``(C, H, W)``."""
        return (self.channels, self.size, self.size)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        """Shape of one env observation, ``(frame_stack * C, H, W)``."""
        return (self.frame_stack * self.channels, self.size, self.size)

    @property
    def game(self) -> str:
        """The ROM name, see :func:`game_name`."""
        return game_name(self.env_id)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metadata(self, made: Any = None) -> dict[str, Any]:
        """The store metadata that describes this env, readable by :meth:`from_metadata`.

        ``made`` is the gymnasium spec of an env actually built from this spec (its kwargs are
        the settings used, e.g. the sticky-action probability); the registered one is a fallback.
        """
        made = made or gym.spec(self.env_id)
        kwargs = {k: v for k, v in made.kwargs.items() if isinstance(v, (str, int, float, bool))}
        return {
            **self.as_dict(),
            "obs_shape": list(self.frame_shape),
            "env_spec": {"id": made.id, "entry_point": str(made.entry_point), "kwargs": kwargs},
            "preprocessing": {
                **PREPROCESSING,
                "grayscale": self.grayscale,
                "noop_max": self.noop_max,
            },
        }


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
    env: EnvSpec | str = DEFAULT_ENV_ID, *, seed: int | None = None, **settings: Any
) -> gym.Env:
    """Build one preprocessed Atari env; observation ``uint8 [frame_stack * C, size, size]``.

    ``env`` is an :class:`EnvSpec` or an env id; ``settings`` are :class:`EnvSpec` fields
    (``frameskip=4, size=64, grayscale=True, frame_stack=4, sticky=0.0, ...``). ``frameskip``
    is applied by the emulator itself (ALE repeats the action), so one env step advances exactly
    ``frameskip`` emulator frames; sticky actions default to off.
    """
    spec = EnvSpec.coerce(env, **settings)
    try:
        made = gym.make(
            spec.env_id,
            frameskip=int(spec.frameskip),
            repeat_action_probability=float(spec.sticky),
            full_action_space=bool(spec.full_action_space),
        )
    except gym.error.Error as exc:
        raise ValueError(f"env_id {spec.env_id!r} cannot be built: {exc}") from exc
    made = AtariPreprocessing(
        made,
        noop_max=int(spec.noop_max),
        frame_skip=1,
        screen_size=int(spec.size),
        grayscale_obs=bool(spec.grayscale),
        grayscale_newaxis=True,
    )
    if spec.max_episode_steps is not None:
        # Outside the no-op resets, so the limit counts agent steps only.
        made = TimeLimit(made, int(spec.max_episode_steps))
    made = FrameStackObservation(made, int(spec.frame_stack), padding_type="zero")
    made = ChannelsFirstStack(made)
    if seed is not None:
        made.reset(seed=seed)
        made.action_space.seed(seed)
    return made


def make_env_from_spec(spec: EnvSpec, *, seed: int | None = None) -> gym.Env:
    """:func:`make_env` for a spec (the name the benchmarks and older callers use)."""
    return make_env(spec, seed=seed)


def ale_of(env: gym.Env) -> ale_py.ALEInterface:
    """The emulator behind a (wrapped) env, for RAM and frame counters."""
    return env.unwrapped.ale


def action_meanings(env: gym.Env) -> list[str]:
    return list(env.unwrapped.get_action_meanings())


_ENV_ID_SUFFIXES = ("NoFrameskip", "Deterministic")


@functools.lru_cache(maxsize=1)
def _rom_ids() -> dict[str, str]:
    """ale-py's ROM ids keyed by their spelling without underscores."""
    try:
        from ale_py.roms import get_all_rom_ids

        return {rom.replace("_", ""): rom for rom in get_all_rom_ids()}
    except (ImportError, AttributeError):  # an ale-py without the ROM index
        return {}


def game_name(env_id: str) -> str:
    """The game of a gym id as ale-py's snake_case ROM id, the key of per-game tables.

    The namespace, the version, a ``-ram`` variant and the ``NoFrameskip``/``Deterministic``
    suffixes are dropped: ``'ALE/SpaceInvaders-v5'``, ``'SpaceInvadersNoFrameskip-v4'`` and
    ``'ALE/SpaceInvaders-ram-v5'`` all give ``'space_invaders'``; ``'ALE/Assault-v5'`` gives
    ``'assault'``. Names ale-py knows take its spelling (``'ALE/TicTacToe3D-v5'`` ->
    ``'tic_tac_toe_3d'``, ``'ALE/Pitfall2-v5'`` -> ``'pitfall2'``); others are snake-cased at
    each capital letter. It is also the ROM name ale-py's native vector env wants.
    """
    name = env_id.split("/")[-1].split("-")[0]
    for suffix in _ENV_ID_SUFFIXES:
        name = name.removesuffix(suffix)
    known = _rom_ids().get(name.lower())
    if known is not None:
        return known
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
