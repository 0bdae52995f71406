"""Search over discrete action sequences: random shooting and CEM over per-step categoricals.

A planner asks a ``RewardModel`` for the predicted rewards ``[N, H]`` of ``N`` candidate
sequences at once, scores each by its discounted sum and returns the best sequence seen. The
model decides how the candidates are evaluated (one batch, or one sequence at a time), so the
same planner serves the probe and the batched-vs-sequential benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

__all__ = ["CEM", "PLANNERS", "Plan", "RandomShooting", "RewardModel", "make_planner"]


class RewardModel(Protocol):
    num_actions: int
    device: torch.device

    def rewards(self, actions: torch.Tensor) -> torch.Tensor:
        """Predicted rewards ``[N, H]`` of action sequences ``[N, H]`` from the current state."""
        ...


@dataclass(frozen=True)
class Plan:
    """The best sequence found, its predicted per-step rewards and its discounted score."""

    actions: torch.Tensor  # int64 [H]
    rewards: torch.Tensor  # float [H]
    score: float

    @property
    def first(self) -> int:
        return int(self.actions[0])


def discounts(horizon: int, discount: float, device: torch.device) -> torch.Tensor:
    """``[1, γ, γ², ...]`` of length ``horizon``."""
    return discount ** torch.arange(horizon, device=device, dtype=torch.float32)


class RandomShooting:
    """``candidates`` uniform sequences, scored once; the best is the plan."""

    name = "random_shooting"

    def __init__(self, num_actions: int, candidates: int, horizon: int, discount: float) -> None:
        self.num_actions, self.candidates, self.horizon = num_actions, candidates, horizon
        self.discount = discount

    def _score(self, model: RewardModel, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        rewards = model.rewards(actions).float()
        weights = discounts(self.horizon, self.discount, rewards.device)
        return rewards, rewards @ weights

    @staticmethod
    def _best(actions, rewards, scores, best: Plan | None) -> Plan:
        i = int(torch.argmax(scores))
        if best is not None and best.score >= float(scores[i]):
            return best
        return Plan(actions[i].clone(), rewards[i].clone(), float(scores[i]))

    def plan(self, model: RewardModel, generator: torch.Generator) -> Plan:
        actions = torch.randint(
            self.num_actions,
            (self.candidates, self.horizon),
            generator=generator,
            device=generator.device,
        ).to(model.device)
        rewards, scores = self._score(model, actions)
        return self._best(actions, rewards, scores, None)


class CEM(RandomShooting):
    """Cross-entropy method over an independent categorical distribution per step.

    Start uniform; each iteration samples ``candidates`` sequences, keeps the ``elites`` best
    and sets each step's probabilities to the elites' action frequencies, mixed with
    ``smoothing`` of the previous probabilities. The plan is the best sequence of any iteration
    (discrete CEM in the style of DINO-WM / stable-worldmodel's latent planners).
    """

    name = "cem"

    def __init__(
        self,
        num_actions: int,
        candidates: int,
        horizon: int,
        discount: float,
        iterations: int = 3,
        elites: int = 26,
        smoothing: float = 0.1,
    ) -> None:
        super().__init__(num_actions, candidates, horizon, discount)
        self.iterations, self.elites = iterations, min(elites, candidates)
        self.smoothing = smoothing

    def plan(self, model: RewardModel, generator: torch.Generator) -> Plan:
        device = generator.device
        probs = torch.full((self.horizon, self.num_actions), 1.0 / self.num_actions, device=device)
        best: Plan | None = None
        for _ in range(self.iterations):
            sampled = torch.multinomial(
                probs, self.candidates, replacement=True, generator=generator
            )
            actions = sampled.T.contiguous().to(model.device)  # [N, H]
            rewards, scores = self._score(model, actions)
            best = self._best(actions, rewards, scores, best)
            elite = actions[torch.topk(scores, self.elites).indices].to(device)  # [k, H]
            freq = torch.zeros_like(probs).scatter_add_(
                1, elite.T, torch.ones(elite.T.shape, device=device)
            )
            probs = self.smoothing * probs + (1 - self.smoothing) * freq / self.elites
        assert best is not None
        return best


PLANNERS = {"cem": CEM, "random_shooting": RandomShooting}


def make_planner(
    name: str,
    *,
    num_actions: int,
    candidates: int,
    horizon: int,
    discount: float,
    iterations: int = 3,
    elites: int = 26,
    smoothing: float = 0.1,
) -> RandomShooting:
    """The planner registered as ``name`` (``'cem'`` or ``'random_shooting'``)."""
    if name not in PLANNERS:
        raise ValueError(f"planner {name!r}: known planners are {', '.join(PLANNERS)}")
    if name == "random_shooting":
        return RandomShooting(num_actions, candidates, horizon, discount)
    return CEM(num_actions, candidates, horizon, discount, iterations, elites, smoothing)
