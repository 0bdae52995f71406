"""Collection policies; each maps a batch of observations from all envs to a batch of actions."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

POLICIES = ("ppo", "random", "epsilon")


class Policy(Protocol):
    name: str

    def act(self, obs: np.ndarray) -> np.ndarray:
        """``obs [n_envs, ...]`` uint8 -> actions int64 ``[n_envs]``."""
        ...


class RandomPolicy:
    """Uniform over the action set."""

    name = "random"

    def __init__(self, num_actions: int, seed: int | None = 0) -> None:
        self.num_actions = int(num_actions)
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.integers(0, self.num_actions, size=len(obs), dtype=np.int64)


class PPOPolicy:
    """A stable-baselines3 PPO model, one batched forward pass for all envs.

    Runs the actor (features extractor, actor MLP, action head) directly and samples from its
    logits with the Gumbel-max trick: the same distribution as ``model.predict`` at about half
    its per-call overhead, which matters at collection batch sizes.
    """

    name = "ppo"

    def __init__(self, model: Any, deterministic: bool = False, seed: int | None = 0) -> None:
        import torch

        self.model = model
        self.deterministic = bool(deterministic)
        self.rng = np.random.default_rng(seed)
        policy = model.policy
        self.device = policy.device
        self.scale = 1.0 / 255.0 if getattr(policy, "normalize_images", True) else 1.0
        extractor = getattr(policy, "pi_features_extractor", policy.features_extractor)
        self.actor = torch.nn.Sequential(
            extractor, policy.mlp_extractor.policy_net, policy.action_net
        ).eval()

    def logits(self, obs: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.as_tensor(obs, device=self.device).float() * self.scale
            return self.actor(x).float().cpu().numpy()

    def act(self, obs: np.ndarray) -> np.ndarray:
        logits = self.logits(obs)
        if not self.deterministic:
            logits = logits + self.rng.gumbel(size=logits.shape)
        return logits.argmax(axis=1).astype(np.int64)


class EpsilonPolicy:
    """``base`` policy, with a share ``epsilon`` of actions replaced by uniform random ones."""

    name = "epsilon"

    def __init__(self, base: Policy, num_actions: int, epsilon: float = 0.2, seed: int = 0) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.base = base
        self.epsilon = float(epsilon)
        self.random = RandomPolicy(num_actions, seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        actions = self.base.act(obs)
        mask = self.random.rng.random(len(obs)) < self.epsilon
        if mask.any():
            actions[mask] = self.random.act(obs[mask])
        return actions


def make_policy(
    name: str,
    *,
    num_actions: int,
    model: Any = None,
    epsilon: float = 0.2,
    deterministic: bool = False,
    seed: int = 0,
) -> Policy:
    """``'random'``, ``'ppo'`` (needs ``model``) or ``'epsilon'`` (PPO with ``epsilon`` random)."""
    if name == "random":
        return RandomPolicy(num_actions, seed)
    if name not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {name!r}")
    if model is None:
        raise ValueError(f"policy {name!r} needs a PPO model")
    ppo = PPOPolicy(model, deterministic, seed)
    if name == "ppo":
        return ppo
    return EpsilonPolicy(ppo, num_actions, epsilon, seed)
