"""Vector envs: ale-py's native multi-threaded env where its preprocessing matches ours.

ale-py's ``AtariVectorEnv`` steps many emulators in C++ threads (about 2.5x gymnasium's
vector envs on 2 cores). With max-pooling, fire-reset and reward clipping switched off it returns
exactly the frames :func:`wm_data.envs.make_env` returns, but it exposes no emulator RAM, so
collection with RAM uses in-process gymnasium envs instead.
"""

from __future__ import annotations

from typing import Any, Literal

import ale_py
import gymnasium as gym
import numpy as np

from wm_data.envs import DEFAULT_ENV_ID, EnvSpec, make_env

Backend = Literal["auto", "native", "sync", "async"]
BACKEND_NAMES = {
    "native": "ale_py.AtariVectorEnv",
    "sync": "gymnasium.SyncVectorEnv",
    "async": "gymnasium.AsyncVectorEnv",
    "gymnasium": "gymnasium",
}


def native_supported(spec: EnvSpec) -> bool:
    """Native env matches ``make_env`` for ALE ids without a step limit (it counts frames)."""
    return spec.env_id.startswith("ALE/") and spec.max_episode_steps is None


class _ChannelsFirstVector(gym.vector.VectorObservationWrapper):
    """Native ``[n, stack, H, W(, 3)]`` -> ``[n, stack * C, H, W]`` like ``make_env``."""

    def __init__(self, env: gym.vector.VectorEnv, spec: EnvSpec) -> None:
        super().__init__(env)
        shape = spec.observation_shape
        self.single_observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.observation_space = gym.spaces.Box(0, 255, (env.num_envs, *shape), np.uint8)
        self._rgb = not spec.grayscale

    def observations(self, observations: np.ndarray) -> np.ndarray:
        if not self._rgb:
            return observations
        n, s, h, w, c = observations.shape
        return np.ascontiguousarray(observations.transpose(0, 1, 4, 2, 3)).reshape(n, s * c, h, w)


def make_native_vec_env(
    spec: EnvSpec, n_envs: int, *, num_threads: int = 0, batch_size: int = 0
) -> gym.vector.VectorEnv:
    """ale-py's native vector env configured to reproduce ``make_env``'s observations.

    ``batch_size`` < ``n_envs`` selects ale-py's async mode (``send``/``recv`` on the inner
    ``.env``, returning whichever envs are ready).
    """
    env = ale_py.AtariVectorEnv(
        spec.game,
        n_envs,
        num_threads=num_threads,
        batch_size=batch_size,
        repeat_action_probability=float(spec.sticky),
        full_action_space=bool(spec.full_action_space),
        img_height=spec.size,
        img_width=spec.size,
        grayscale=spec.grayscale,
        stack_num=spec.frame_stack,
        frameskip=spec.frameskip,
        maxpool=False,
        noop_max=spec.noop_max,
        episodic_life=False,
        reward_clipping=False,
        use_fire_reset=False,
    )
    return _ChannelsFirstVector(env, spec)


def make_vec_env(
    n_envs: int,
    env: EnvSpec | str = DEFAULT_ENV_ID,
    *,
    backend: Backend = "auto",
    seed: int | None = None,
    **settings: Any,
) -> gym.vector.VectorEnv:
    """``n_envs`` copies of :func:`wm_data.envs.make_env` as one gymnasium vector env.

    ``env`` and ``settings`` are as for ``make_env`` (a spec or an env id, then spec fields).
    ``backend='auto'`` takes ale-py's native env when it reproduces ``make_env`` exactly and
    gymnasium's ``AsyncVectorEnv`` otherwise; the result has attribute ``wm_backend``.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    spec = EnvSpec.coerce(env, **settings)
    return _build_vec_env(spec, n_envs, backend, seed)


def make_vec_env_from_spec(
    spec: EnvSpec, n_envs: int, *, backend: Backend = "auto", seed: int | None = None
) -> gym.vector.VectorEnv:
    """:func:`make_vec_env` for a spec (argument order of the older callers)."""
    return make_vec_env(n_envs, spec, backend=backend, seed=seed)


def _build_vec_env(
    spec: EnvSpec, n_envs: int, backend: Backend, seed: int | None
) -> gym.vector.VectorEnv:
    if backend not in ("auto", "native", "sync", "async"):
        raise ValueError(f"backend must be auto, native, sync or async, got {backend!r}")
    if backend == "auto":
        backend = "native" if native_supported(spec) else "async"
    if backend == "native":
        if not native_supported(spec):
            raise ValueError(
                f"backend 'native' cannot reproduce env_id={spec.env_id!r} with "
                f"max_episode_steps={spec.max_episode_steps!r}; use backend='sync' or 'async'"
            )
        env: Any = make_native_vec_env(spec, n_envs)
    else:
        fns = [lambda: make_env(spec) for _ in range(n_envs)]
        cls = gym.vector.SyncVectorEnv if backend == "sync" else gym.vector.AsyncVectorEnv
        env = cls(fns)
    env.wm_backend = BACKEND_NAMES[backend]
    if seed is not None:
        env.reset(seed=seed)
    return env
