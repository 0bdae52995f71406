"""The PPO collection agent (stable-baselines3 ``CnnPolicy``): train once, then reuse.

The agent is a zip file next to the data, with a JSON sidecar recording the env settings it
was trained on (loading it for other settings fails naming the field) and an SB3 ``VecMonitor``
CSV of its training curve (one row per finished episode: return ``r``, length ``l``, time ``t``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from wm_core import atomic_write, atomic_write_text, configurable, to_plain
from wm_data.envs import EnvSpec, make_env

# Settings that change what the agent sees or does; an agent trained on others cannot be used.
AGENT_FIELDS = (
    "env_id",
    "frameskip",
    "size",
    "grayscale",
    "frame_stack",
    "sticky",
    "full_action_space",
)


class AgentMismatchError(ValueError):
    """A saved agent was trained on other env settings than the ones requested."""

    def __init__(self, path: Path, field: str, actual: Any, expected: Any) -> None:
        self.field = field
        super().__init__(
            f"{path}: agent was trained with {field}={actual!r} but {expected!r} was requested; "
            f"delete it or point agent_path elsewhere to train a new one"
        )


@configurable("ppo", module="wm_data")
def ppo_hyperparameters(
    learning_rate: float = 2.5e-4,
    n_steps: int = 128,
    batch_size: int = 256,
    n_epochs: int = 4,
    gamma: float = 0.99,
    gae_lambda: float = 0.95,
    clip_range: float = 0.1,
    ent_coef: float = 0.01,
    vf_coef: float = 0.5,
    max_grad_norm: float = 0.5,
    n_envs: int = 8,
    device: str = "auto",
) -> dict[str, Any]:
    """PPO settings (CleanRL/SB3 Atari defaults); bind them in gin as ``ppo.<name>``."""
    return {k: v for k, v in locals().items()}


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def curve_path(path: Path) -> Path:
    """SB3 VecMonitor CSV with the agent's training curve."""
    return path.with_suffix(".monitor.csv")


def read_training_curve(path: str | Path) -> np.ndarray:
    """Episode returns, lengths and wall times (structured array r, l, t) logged in training."""
    csv = curve_path(Path(path))
    if not csv.exists():
        return np.zeros(0, dtype=[("r", "f8"), ("l", "i8"), ("t", "f8")])
    data = np.genfromtxt(csv, delimiter=",", names=True, skip_header=1, dtype=None)
    return np.atleast_1d(data)


# SB3's CnnPolicy (NatureCNN: 8x8 stride 4, 4x4 stride 2, 3x3 stride 1) needs this many pixels.
MIN_AGENT_FRAME_SIZE = 36


def train_agent(
    path: str | Path,
    spec: EnvSpec,
    total_timesteps: int,
    *,
    seed: int = 0,
    hyperparameters: dict[str, Any] | None = None,
    progress: bool = False,
) -> Path:
    """Train PPO from scratch on ``spec`` for ``total_timesteps`` env steps; save atomically."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    if total_timesteps < 1:
        raise ValueError(f"agent_steps must be >= 1 to train an agent, got {total_timesteps!r}")
    if spec.size < MIN_AGENT_FRAME_SIZE:
        raise ValueError(
            f"size={spec.size} is too small for the PPO agent's CnnPolicy, which needs frames of "
            f"at least {MIN_AGENT_FRAME_SIZE}x{MIN_AGENT_FRAME_SIZE}; collect at a larger size "
            "or with policy='random'"
        )
    path = Path(path)
    if path.suffix != ".zip":
        raise ValueError(f"agent path must end in .zip, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    hp = {**ppo_hyperparameters(), **(hyperparameters or {})}
    n_envs = int(hp.pop("n_envs", 8))
    seeds = [seed * 1000 + i for i in range(n_envs)]
    venv = DummyVecEnv([lambda s=s: make_env(spec, seed=s) for s in seeds])
    venv = VecMonitor(venv, filename=str(curve_path(path)))
    model = PPO("CnnPolicy", venv, seed=seed, verbose=0, **hp)
    callbacks = [_TqdmCallback(total_timesteps)] if progress else []
    model.learn(total_timesteps=total_timesteps, callback=callbacks)
    venv.close()
    # SB3 writes to the open temporary file, so it never renames it (it appends ".zip" to
    # a path without that suffix); the zip appears under its name only once complete.
    atomic_write(path, model.save)
    curve = read_training_curve(path)
    info = {
        "env": spec.as_dict(),
        "obs_shape": list(model.observation_space.shape),
        "num_actions": int(model.action_space.n),
        "total_timesteps": int(total_timesteps),
        "seed": int(seed),
        "hyperparameters": {**hp, "n_envs": n_envs},
        "episodes": len(curve),
        "final_mean_return": float(curve["r"][-100:].mean()) if len(curve) else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(sidecar_path(path), json.dumps(to_plain(info), indent=2))
    return path


def check_agent(path: Path, spec: EnvSpec) -> None:
    """Raise :class:`AgentMismatchError` if the sidecar disagrees with ``spec``."""
    side = sidecar_path(path)
    if not side.exists():
        return
    env = json.loads(side.read_text()).get("env", {})
    wanted = spec.as_dict()
    for name in AGENT_FIELDS:
        if name in env and env[name] != wanted[name]:
            raise AgentMismatchError(path, name, env[name], wanted[name])


def load_agent(path: str | Path | None, spec: EnvSpec, device: str = "auto") -> Any:
    """Load a saved PPO agent and check it fits ``spec`` (observation shape, action count)."""
    from stable_baselines3 import PPO

    if path is None:
        raise ValueError("policy needs a PPO agent but agent_path is None")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no PPO agent file")
    check_agent(path, spec)
    model = PPO.load(path, device=device)
    env = make_env(spec)
    try:
        if tuple(model.observation_space.shape) != tuple(env.observation_space.shape):
            raise AgentMismatchError(
                path,
                "obs_shape",
                tuple(model.observation_space.shape),
                tuple(env.observation_space.shape),
            )
        if int(model.action_space.n) != int(env.action_space.n):
            raise AgentMismatchError(
                path, "num_actions", int(model.action_space.n), int(env.action_space.n)
            )
    finally:
        env.close()
    return model


def ensure_agent(
    path: str | Path,
    spec: EnvSpec,
    *,
    total_timesteps: int,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Reuse the agent at ``path`` when it exists (after checking it), else train one there."""
    path = Path(path)
    if path.exists():
        check_agent(path, spec)
        return path
    return train_agent(path, spec, total_timesteps, seed=seed, progress=progress)


class _TqdmCallback:
    """Progress bar over PPO timesteps with the recent mean episode return."""

    def __new__(cls, total: int) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback
        from tqdm.auto import tqdm

        class Callback(BaseCallback):
            def _on_training_start(self) -> None:
                self.bar = tqdm(total=total, unit="step", desc="train ppo", dynamic_ncols=True)

            def _on_step(self) -> bool:
                self.bar.update(self.training_env.num_envs)
                buf = self.model.ep_info_buffer
                if buf and self.n_calls % 50 == 0:
                    self.bar.set_postfix(mean_return=f"{np.mean([e['r'] for e in buf]):.1f}")
                return True

            def _on_training_end(self) -> None:
                self.bar.close()

        return Callback()
