"""Collection policies; each maps a batch of observations from all envs to a batch of actions.

``POLICIES`` names them: ``random`` (uniform actions), ``ppo`` (the trained PPO agent) and
``epsilon`` (PPO with a share ``epsilon`` of random actions). Each entry is a factory called
with the same keywords (``num_actions, model, epsilon, deterministic, seed``); one marked with
:func:`needs_agent` gets the PPO model in ``model``, so the collector trains or loads the agent
only for those. Third-party packages add policies through the entry-point group
``wm_data.plugins``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np

from wm_core import Registry, UnknownNameError


class UnknownPolicyError(UnknownNameError, ValueError):
    """An unknown policy name: a registry miss, and a bad configuration value."""


POLICIES = Registry(
    "policy",
    plugin_group="wm_data.plugins",
    what="collection policies",
    error=UnknownPolicyError,
)

F = TypeVar("F", bound=Callable[..., Any])


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


def needs_agent(factory: F) -> F:
    """Mark a policy factory as acting through the PPO agent (passed as ``model``)."""
    factory.needs_agent = True  # type: ignore[attr-defined]
    return factory


def policy_needs_agent(name: str) -> bool:
    """Whether collecting with policy ``name`` needs the PPO agent (unknown names fail)."""
    return bool(getattr(POLICIES.get(name), "needs_agent", False))


def _ppo(model: Any, name: str, deterministic: bool, seed: int) -> PPOPolicy:
    if model is None:
        raise ValueError(f"policy {name!r} needs a PPO model")
    return PPOPolicy(model, deterministic, seed)


@POLICIES.register("random")
def random_policy(
    *,
    num_actions: int,
    model: Any = None,
    epsilon: float = 0.2,
    deterministic: bool = False,
    seed: int = 0,
) -> Policy:
    """Uniform over the action set."""
    return RandomPolicy(num_actions, seed)


@POLICIES.register("ppo")
@needs_agent
def ppo_policy(
    *,
    num_actions: int,
    model: Any = None,
    epsilon: float = 0.2,
    deterministic: bool = False,
    seed: int = 0,
) -> Policy:
    """The PPO agent's actions (sampled, or its argmax when ``deterministic``)."""
    return _ppo(model, "ppo", deterministic, seed)


@POLICIES.register("epsilon")
@needs_agent
def epsilon_policy(
    *,
    num_actions: int,
    model: Any = None,
    epsilon: float = 0.2,
    deterministic: bool = False,
    seed: int = 0,
) -> Policy:
    """PPO actions with a share ``epsilon`` replaced by uniform random ones."""
    return EpsilonPolicy(_ppo(model, "epsilon", deterministic, seed), num_actions, epsilon, seed)


def make_policy(
    name: str,
    *,
    num_actions: int,
    model: Any = None,
    epsilon: float = 0.2,
    deterministic: bool = False,
    seed: int = 0,
) -> Policy:
    """The policy registered as ``name``; an unknown name raises :class:`UnknownPolicyError`."""
    return POLICIES.build(
        name,
        num_actions=num_actions,
        model=model,
        epsilon=epsilon,
        deterministic=deterministic,
        seed=seed,
    )
