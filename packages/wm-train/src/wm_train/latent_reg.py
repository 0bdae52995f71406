"""Anti-collapse terms on a batch of latents: VICReg's variance/covariance and LeJEPA's SIGReg.

SIGReg (Balestriero & LeCun 2025, "LeJEPA") asks the latents to be isotropic Gaussian: it
projects the batch on M random unit directions and penalises, for each 1-D projection, the
Epps-Pulley statistic against N(0, 1)

    EP(x) = N * integral over t of |phi_N(t) - exp(-t^2 / 2)|^2 w(t) dt,   w(t) = exp(-t^2 / 2),

where phi_N(t) = mean_n exp(i t x_n) is the empirical characteristic function of the N
projected values. The integrand is even in t, so the integral is twice the one over [0, t_max],
taken by the trapezoid rule on a fixed grid. Under N(0, 1) the statistic has expectation
sqrt(2 pi) - sqrt(2 pi / 3) ~= 1.06 whatever N is; a constant batch at 0 scores ~0.41 N.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from wm_train.settings import check_int, check_real

__all__ = ["LatentRegulariser", "epps_pulley", "random_directions", "sigreg", "variance_covariance"]

#: Expected Epps-Pulley statistic of a standard normal sample (the integral over the real line).
NULL_EXPECTATION = math.sqrt(2 * math.pi) - math.sqrt(2 * math.pi / 3)
#: Seed of the fixed directions validation uses, so a validation figure is comparable across epochs.
VALIDATION_SEED = 2**31 - 1


def variance_covariance(z: torch.Tensor, eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """VICReg terms: hinge on per-dim std below 1, and squared off-diagonal covariance / D.

    Both are zero for a one-sample batch (an epoch's last, say), where they are undefined.
    """
    if z.shape[0] < 2:
        zero = z.float().sum() * 0.0
        return zero, zero
    z = z.float() - z.float().mean(0)
    std = torch.sqrt(z.var(0) + eps)
    var = F.relu(1.0 - std).mean()
    n, d = z.shape
    cov = (z.T @ z) / max(1, n - 1)
    off = cov - torch.diag(torch.diag(cov))
    return var, off.pow(2).sum() / d


def _grid(t_max: float, points: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes on [0, t_max] and trapezoid weights doubled (the integral over the whole line)
    times the window exp(-t^2 / 2)."""
    t = torch.linspace(0.0, t_max, points, device=device, dtype=torch.float32)
    step = t_max / (points - 1)
    weights = torch.full((points,), 2.0 * step, device=device, dtype=torch.float32)
    weights[0] = weights[-1] = step
    return t, weights * torch.exp(-0.5 * t * t)


def epps_pulley(x: torch.Tensor, *, t_max: float = 3.0, points: int = 17) -> torch.Tensor:
    """Epps-Pulley statistic of each column of ``x`` [N, M] against N(0, 1): a tensor [M].

    Differentiable in ``x``. ``t_max`` and ``points`` set the quadrature grid (LeJEPA's defaults);
    the window makes the part beyond t = 3 under 1% of a collapsed batch's score.
    """
    if x.dim() != 2:
        raise ValueError(f"epps_pulley expects samples [N, M], got shape {tuple(x.shape)}")
    if points < 2:
        raise ValueError(f"epps_pulley needs at least 2 quadrature points, got {points}")
    x = x.float()
    t, weights = _grid(t_max, points, x.device)
    xt = x.unsqueeze(-1) * t  # [N, M, P]
    real = torch.cos(xt).mean(0) - torch.exp(-0.5 * t * t)  # [M, P]
    imag = torch.sin(xt).mean(0)
    return x.shape[0] * ((real.square() + imag.square()) @ weights)


def random_directions(
    dim: int, count: int, seed: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``count`` unit vectors in R^dim as columns [dim, count], drawn from ``seed`` alone (on the
    CPU, so every device and rank draws the same ones)."""
    g = torch.Generator().manual_seed(int(seed))
    a = torch.randn(dim, count, generator=g)
    return (a / a.norm(dim=0, keepdim=True)).to(device)


def sigreg(
    z: torch.Tensor, directions: torch.Tensor, *, t_max: float = 3.0, points: int = 17
) -> torch.Tensor:
    """SIGReg: the mean Epps-Pulley statistic of ``z`` [N, D] projected on ``directions``
    [D, M]; zero for fewer than two samples (a one-sample last batch)."""
    if z.shape[0] < 2:
        return z.float().sum() * 0.0
    return epps_pulley(z.float() @ directions.to(z.device), t_max=t_max, points=points).mean()


class LatentRegulariser:
    """Weighted anti-collapse terms of one loss (``key`` prefixes the gin names in errors).

    SIGReg's directions are redrawn at every training call from a counter (saved with the
    loss's state, so a resumed run draws the same ones); validation uses one fixed set.
    """

    def __init__(
        self,
        key: str,
        *,
        var_weight: float = 0.0,
        cov_weight: float = 0.0,
        sigreg_weight: float = 0.0,
        sigreg_directions: int = 256,
    ) -> None:
        check_real(f"{key}.var_weight", var_weight, 0.0)
        check_real(f"{key}.cov_weight", cov_weight, 0.0)
        check_real(f"{key}.sigreg_weight", sigreg_weight, 0.0)
        check_int(f"{key}.sigreg_directions", sigreg_directions, 1)
        self.var_weight = var_weight
        self.cov_weight = cov_weight
        self.sigreg_weight = sigreg_weight
        self.sigreg_directions = sigreg_directions
        self.calls = 0

    @property
    def active(self) -> bool:
        return bool(self.var_weight or self.cov_weight or self.sigreg_weight)

    def add_to(
        self, loss: torch.Tensor, z: torch.Tensor, training: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``loss`` plus the weighted terms on ``z`` [B, D], and the terms as metrics (in fp32:
        under bf16 autocast the projections would keep three significant digits)."""
        metrics: dict[str, torch.Tensor] = {}
        with torch.autocast(z.device.type, enabled=False):
            loss = self._add(loss, z.float(), training, metrics)
        return loss, metrics

    def _add(
        self, loss: torch.Tensor, z: torch.Tensor, training: bool, metrics: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        if self.var_weight or self.cov_weight:
            var, cov = variance_covariance(z)
            loss = loss + self.var_weight * var + self.cov_weight * cov
            metrics.update({"reg/variance": var.detach(), "reg/covariance": cov.detach()})
        if self.sigreg_weight:
            seed = self.calls if training else VALIDATION_SEED
            if training:
                self.calls += 1
            dirs = random_directions(z.shape[1], self.sigreg_directions, seed, z.device)
            value = sigreg(z, dirs)
            loss = loss + self.sigreg_weight * value
            metrics["reg/sigreg"] = value.detach()
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {"sigreg_calls": self.calls} if self.sigreg_weight else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = int(state.get("sigreg_calls", 0))
