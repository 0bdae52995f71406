"""Play real episodes with a policy, in the exact env a store was collected in.

Every policy plays the same episodes: episode ``i`` resets the env with seed ``seed + i`` (its
no-op start and sticky-action draws follow from that seed), so returns of two policies compare
paired. A policy sees the env observation (``[frame_stack * C, H, W]``, what the PPO agent was
trained on); the planner keeps its own history of the newest frame of each observation
(``obs[-C:]``, what the store holds) and encodes the last T of them — the first frame repeated
while an episode has fewer than T frames (stores hold no zero-padded frames, so models never
saw them).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from wm_data import EnvSpec, make_env, make_policy
from wm_data.agent import load_agent  # at import: it registers gin configurables
from wm_data.collect import AGENT_NAME
from wm_data.store import resolve_paths
from wm_eval import columns as C
from wm_eval.planning.model import LatentModel
from wm_eval.planning.planners import RandomShooting

__all__ = [
    "AgentActions",
    "Behaviour",
    "Episode",
    "PlannerActions",
    "RandomActions",
    "behaviour_agent",
    "env_spec",
    "play",
]


class Actor(Protocol):
    def reset(self, seed: int) -> None:
        """Start an episode (``seed`` fixes the actor's own randomness for it)."""

    def act(self, obs: np.ndarray) -> tuple[int, float | None]:
        """The action for observation ``obs`` and, for a model, its predicted reward."""


@dataclass
class Episode:
    """One played episode: what was received, what the model predicted, the decision time."""

    seed: int
    rewards: np.ndarray
    predicted: np.ndarray | None
    decision_seconds: float
    wall_seconds: float

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())

    @property
    def length(self) -> int:
        return len(self.rewards)


@dataclass
class RandomActions:
    """Uniform actions, from a generator seeded per episode."""

    num_actions: int
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> tuple[int, float | None]:
        return int(self.rng.integers(self.num_actions)), None


@dataclass
class AgentActions:
    """A ``wm_data`` collection policy (PPO, or PPO with a share epsilon of random actions)."""

    make: Callable[[int], Any]  # seed -> wm_data policy
    policy: Any = None

    def reset(self, seed: int) -> None:
        self.policy = self.make(seed)

    def act(self, obs: np.ndarray) -> tuple[int, float | None]:
        return int(self.policy.act(obs[None])[0]), None


@dataclass
class PlannerActions:
    """Model-predictive control: encode the last T frames, plan, play the first action."""

    model: LatentModel
    planner: RandomShooting
    context: int
    channels: int
    frames: deque = field(default_factory=deque)
    generator: torch.Generator | None = None

    def reset(self, seed: int) -> None:
        self.frames = deque(maxlen=self.context)
        self.generator = torch.Generator(self.model.device).manual_seed(seed)

    def state(self, obs: np.ndarray) -> np.ndarray:
        """The last T frames ``[T, C, H, W]``, the oldest repeated while there are fewer."""
        frame = np.asarray(obs)[-self.channels :]
        if not self.frames:
            self.frames.extend([frame] * self.context)
        else:
            self.frames.append(frame)
        return np.stack(self.frames)

    def act(self, obs: np.ndarray) -> tuple[int, float | None]:
        assert self.generator is not None, "reset(seed) before act"
        self.model.observe(self.state(obs))
        plan = self.planner.plan(self.model, self.generator)
        return plan.first, float(plan.rewards[0])


def play(
    env: gym.Env, actor: Actor, seeds: Sequence[int], max_steps: int, actor_seed: int = 0
) -> list[Episode]:
    """One episode per env seed, each cut at ``max_steps`` steps (or ended by the env).

    The actor's own randomness for episode ``i`` is seeded with ``(actor_seed, i)`` mixed into
    one int, the same for every policy, independent of the env's.
    """
    out = []
    for i, seed in enumerate(seeds):
        t0 = time.perf_counter()
        actor.reset(int(np.random.SeedSequence([actor_seed, i]).generate_state(1)[0]))
        obs, _ = env.reset(seed=int(seed))
        rewards, predicted, decide = [], [], 0.0
        for _ in range(max_steps):
            t1 = time.perf_counter()
            action, r_hat = actor.act(obs)
            decide += time.perf_counter() - t1
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            predicted.append(np.nan if r_hat is None else r_hat)
            if terminated or truncated:
                break
        pred = np.asarray(predicted, dtype=np.float64)
        out.append(
            Episode(
                int(seed),
                np.asarray(rewards, dtype=np.float64),
                None if np.isnan(pred).all() else pred,
                decide,
                time.perf_counter() - t0,
            )
        )
    return out


def env_spec(metadata: dict[str, Any]) -> EnvSpec:
    """The env a store was collected in (game, frameskip, size, grayscale, sticky, stack...)."""
    return EnvSpec.from_metadata(metadata)


def play_env(spec: EnvSpec) -> gym.Env:
    """A fresh env of ``spec`` (seeded per episode by ``play``)."""
    return make_env(spec)


@dataclass
class Behaviour:
    """The store's behaviour policy as an actor, or why there is none."""

    actor: AgentActions | None
    label: str
    note: str | None = None


def behaviour_agent(
    metadata: dict[str, Any], store_paths: Sequence[str], spec: EnvSpec, num_actions: int
) -> Behaviour:
    """The agent that collected a store: its PPO zip (the path the store records, else
    ``ppo_agent.zip`` in the store's folder, where ``wm-collect`` writes it, so that a moved or
    copied store keeps its agent) with the store's policy, epsilon and determinism.

    A store collected by the random policy, or whose agent zip is gone or does not fit the
    env, gives no actor and a note saying why.
    """
    policy = str(metadata.get("policy", ""))
    epsilon = float(metadata.get("epsilon", 0.0))
    label = C.behaviour_agent(policy, epsilon)
    if policy not in ("ppo", "epsilon"):
        why = (
            "collected by the random policy: its behaviour policy is the random-policy column"
            if policy == "random"
            else f"collected by policy {policy!r}, which the control probe cannot replay"
        )
        return Behaviour(None, label, f"store {store_paths[0]} was {why}.")
    recorded = Path(str(metadata.get("agent") or ""))
    beside = resolve_paths(store_paths)[0].parent / AGENT_NAME
    path = next((p for p in (recorded, beside) if str(p) not in ("", ".") and p.is_file()), None)
    if path is None:
        return Behaviour(
            None,
            label,
            f"behaviour agent of store {store_paths[0]}: no PPO zip at {recorded or beside} "
            f"or {beside}; no behaviour row.",
        )
    try:
        model = load_agent(path, spec, device="cpu")
    except (ValueError, OSError) as exc:
        return Behaviour(
            None, label, f"behaviour agent {path} not usable: {exc}; no behaviour row."
        )
    deterministic = bool(metadata.get("deterministic", False))

    def make(seed: int) -> Any:
        return make_policy(
            policy,
            num_actions=num_actions,
            model=model,
            epsilon=epsilon,
            deterministic=deterministic,
            seed=seed,
        )

    return Behaviour(AgentActions(make), label)
