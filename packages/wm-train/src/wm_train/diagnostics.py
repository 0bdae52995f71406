"""Collapse diagnostics for latent-space training: per-dimension std and effective rank."""

from __future__ import annotations

import warnings

import torch


def effective_rank(z: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of the normalised singular values of centred latents (Roy & Vetterli 2007).

    1 for a line, D when all D directions carry equal variance, and 0 for a constant cloud
    (every row equal: all zeros, one sample, a fully collapsed encoder). The constant case is
    decided exactly on the rows, not on the singular values: centring a constant in floating
    point leaves rounding noise whose spectrum would otherwise read as rank >= 1. wm-eval's
    ``effective_rank`` follows the same definition, so the training log and the report agree.
    """
    z = z.float()
    if z.shape[0] == 0 or bool((z == z[:1]).all()):
        return z.new_zeros(())
    s = torch.linalg.svdvals(z - z.mean(0, keepdim=True))
    total = s.sum()
    if total <= 0:
        return z.new_zeros(())
    p = s / total
    p = p[p > 0]
    return torch.exp(-(p * torch.log(p)).sum())


def batch_std(z: torch.Tensor) -> torch.Tensor:
    """Per-dimension std over the batch; 0 (not NaN) for the one-sample last batch of an epoch."""
    z = z.detach().float()
    return z.std(0, correction=1 if z.shape[0] > 1 else 0)


def latent_stats(z: torch.Tensor) -> dict[str, torch.Tensor]:
    """Scalars that reveal a collapsing encoder: all dims constant, or a few dims carrying all."""
    z = z.detach().float()
    std = batch_std(z)
    return {
        "collapse/std_mean": std.mean(),
        "collapse/std_min": std.min(),
        "collapse/effective_rank": effective_rank(z),
    }


class CollapseMonitor:
    """Warns when latents collapse: their spread falls far below its value at the start of
    training (the scale of a fresh encoder depends on the data, so the start is the reference),
    or nearly all variance sits in one direction.
    """

    def __init__(self, *, min_std_ratio: float = 0.01, min_rank: float = 1.5) -> None:
        self.min_std_ratio = min_std_ratio
        self.min_rank = min_rank
        self.reference: float | None = None

    def observe_start(self, std_mean: float) -> None:
        """Record the per-dim std of the first training batch."""
        if self.reference is None and std_mean > 0:
            self.reference = float(std_mean)

    def check(self, metrics: dict[str, float], prefix: str = "val/") -> str | None:
        """Add ``collapse/std_ratio`` to ``metrics``; warn and return a message on collapse."""
        std = metrics.get(prefix + "collapse/std_mean")
        rank = metrics.get(prefix + "collapse/effective_rank")
        problems = []
        if std is not None and self.reference:
            ratio = std / self.reference
            metrics[prefix + "collapse/std_ratio"] = ratio
            if ratio < self.min_std_ratio:
                problems.append(
                    f"per-dim std fell to {ratio:.1e} of its value at the start ({std:.2e})"
                )
        if rank is not None and rank < self.min_rank:
            problems.append(f"effective rank {rank:.2f} < {self.min_rank:g}")
        if not problems:
            return None
        message = (
            "latent collapse suspected: "
            + "; ".join(problems)
            + " (try the anti-collapse terms losses.<jepa|reconstruction>.var_weight / cov_weight"
            + " / sigreg_weight, or for a JEPA a slower EMA)"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return message
