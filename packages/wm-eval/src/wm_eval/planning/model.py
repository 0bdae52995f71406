"""A run's encoder, predictor and dynamics reward head as one batched latent model.

``LatentModel.observe(state)`` encodes the last T frames once per decision; ``rewards(actions)``
rolls every candidate sequence ``[N, H]`` through the predictor from that latent, one predictor
call of ``N`` rows per step, and scores each transition with the reward head:
``r̂_k = head(ẑ_k, ẑ_{k+1})`` with ``ẑ_{k+1} = predictor(ẑ_k, a_k)`` — what the dynamics reward
head was trained on (``head(z, predictor(z, a))``). ``batch=1`` rolls one sequence at a time
(the benchmark's baseline).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from wm_eval.baselines import CopyLatentPredictor

__all__ = ["LatentModel"]


class LatentModel:
    """``(z, action_seqs [N, H]) -> predicted rewards [N, H]`` from a run's modules."""

    def __init__(
        self,
        encoder: nn.Module,
        predictor: nn.Module,
        reward_head: nn.Module,
        *,
        num_actions: int,
        device: torch.device | str = "cpu",
        batch: int | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.encoder = encoder.to(self.device).eval()
        self.predictor = predictor.to(self.device).eval()
        self.reward_head = reward_head.to(self.device).eval()
        self.num_actions = int(num_actions)
        self.batch = batch
        self.z: torch.Tensor | None = None

    def action_blind(self) -> LatentModel:
        """The same encoder and reward head with the copy-current-latent predictor
        (``ẑ_{k+1} = ẑ_k``): every action sequence predicts the same rewards."""
        return self.with_predictor(CopyLatentPredictor())

    def with_predictor(self, predictor: nn.Module) -> LatentModel:
        return LatentModel(
            self.encoder,
            predictor,
            self.reward_head,
            num_actions=self.num_actions,
            device=self.device,
            batch=self.batch,
        )

    def sequential(self) -> LatentModel:
        """The same model rolling out one candidate sequence at a time."""
        out = self.with_predictor(self.predictor)
        out.batch = 1
        return out

    @torch.inference_mode()
    def observe(self, state: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Encode one state ``[T, C, H, W]`` (uint8, or float in [0, 1]); kept for ``rewards``."""
        x = torch.as_tensor(np.asarray(state)).to(self.device)
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        self.z = self.encoder(x.unsqueeze(0))[0]
        return self.z

    @torch.inference_mode()
    def rewards(self, actions: torch.Tensor) -> torch.Tensor:
        """Predicted rewards ``[N, H]`` of ``actions [N, H]`` (int64) from the observed latent."""
        if self.z is None:
            raise RuntimeError("LatentModel.rewards before observe(state)")
        actions = actions.to(self.device)
        step = self.batch or len(actions)
        return torch.cat(
            [self._rollout(actions[s : s + step]) for s in range(0, len(actions), step)]
        )

    def _rollout(self, actions: torch.Tensor) -> torch.Tensor:
        assert self.z is not None
        z = self.z.unsqueeze(0).expand(len(actions), -1)
        out = []
        for k in range(actions.shape[1]):
            z_next = self.predictor(z, actions[:, k])
            out.append(self.reward_head(z, z_next).float())
            z = z_next
        return torch.stack(out, dim=1)
