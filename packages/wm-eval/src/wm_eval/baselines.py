"""Reference points shown beside every model number.

* a randomly initialised encoder of the same architecture (rebuilt from the checkpoint's
  spec with a fixed seed): what the architecture gives before any training;
* the copy-current-latent predictor ``z_{t+1} = z_t``: what a world model must beat;
* the mean latent of the training split (an error / variance of about 1), a ridge-regression
  linear dynamics model fit on the training split, and the run's own predictor fed actions
  shuffled across windows (does the prediction use the action at all?);
* pixel references a decoder must beat in pixel space: copy-last-frame, the training-split
  mean and per-pixel median frames (what a decoder that draws only the static background
  scores) and a Gaussian blur (σ = 1) of the last frame (blur wins L1 on moving edges);
* a constant (train-mean) reward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from wm_eval import columns as C
from wm_eval.metrics.ridge import GramRidgeCV
from wm_models import build, module_spec


def spec_key(module: nn.Module) -> str:
    """A stable string for a module's architecture (kind, registry name, kwargs)."""
    return json.dumps(module_spec(module), sort_keys=True, default=str)


def random_encoder(encoder: nn.Module, seed: int = 0) -> nn.Module:
    """A fresh, untrained encoder with ``encoder``'s architecture, initialised from ``seed``."""
    spec = module_spec(encoder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = build(spec["kind"], spec["name"], **dict(spec["kwargs"]))
    return fresh.eval()


class CopyLatentPredictor(nn.Module):
    """``predict(z, a) = z``: the world does not change."""

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return z


def copy_last_frame(frames: torch.Tensor, context: int) -> torch.Tensor:
    """Predict the next frame as the last context frame: ``frames[:, T-1]`` of ``[B, T+K, ...]``."""
    return frames[:, context - 1]


BLUR_SIGMA = 1.0
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-6, 3, 10))


def blur_frames(frames: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """A Gaussian blur of ``[N, C, H, W]`` images over H and W only (never across channels)."""
    frames = np.asarray(frames, dtype=np.float32)
    return ndimage.gaussian_filter(frames, sigma=(0, 0, sigma, sigma), mode="nearest")


@dataclass(frozen=True)
class FrameReference:
    """The training split's mean and per-pixel median frame, ``[C, H, W]`` in [0, 1]."""

    mean: np.ndarray
    median: np.ndarray

    @classmethod
    def fit(cls, frames: np.ndarray) -> FrameReference:
        """From training frames ``[N, C, H, W]`` in [0, 1] (never from the scored split)."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 4 or not len(frames):
            raise ValueError(f"frames: [N, C, H, W] with N >= 1 expected, got {frames.shape}")
        return cls(frames.mean(axis=0), np.median(frames, axis=0))

    def predictions(self, last: np.ndarray) -> dict[str, np.ndarray]:
        """Every pixel baseline's next frame for windows whose last context frame is ``last``."""
        last = np.asarray(last, dtype=np.float32)
        shape = last.shape
        return {
            C.COPY_FRAME: last,
            C.MEAN_FRAME: np.broadcast_to(self.mean, shape),
            C.MEDIAN_FRAME: np.broadcast_to(self.median, shape),
            C.BLUR_FRAME: blur_frames(last),
        }


def one_hot(actions: np.ndarray, num_actions: int) -> np.ndarray:
    actions = np.asarray(actions, dtype=np.int64)
    out = np.zeros((len(actions), num_actions))
    out[np.arange(len(actions)), actions] = 1.0
    return out


LOSSES = ("squared", "absolute")


@dataclass
class LinearDynamics:
    """``z' = W [z, onehot(a)] + b``, fit on training-split transitions.

    The simplest action-conditioned world model in the run's own latent space: a learned
    predictor that cannot beat it has learned nothing a linear map of the latent does not hold.
    ``loss='squared'`` is ridge regression (alpha by leave-one-out), the best linear model for a
    squared-error score; ``loss='absolute'`` minimises the summed absolute error (median
    regression), the best linear model for an L1 score, the JEPA's training loss.
    """

    model: GramRidgeCV
    num_actions: int
    loss: str = "squared"

    @classmethod
    def fit(
        cls,
        z: np.ndarray,
        actions: np.ndarray,
        z_next: np.ndarray,
        num_actions: int,
        loss: str = "squared",
    ) -> LinearDynamics:
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        x = np.concatenate([np.asarray(z, np.float64), one_hot(actions, num_actions)], axis=1)
        y = np.asarray(z_next, np.float64)
        model = GramRidgeCV(alphas=RIDGE_ALPHAS).fit(x, y)
        if loss == "absolute":
            least_absolute_deviations(model, x, y)
        return cls(model, num_actions, loss)

    def __call__(self, z: np.ndarray, actions: np.ndarray) -> np.ndarray:
        x = np.concatenate([np.asarray(z, np.float64), one_hot(actions, self.num_actions)], axis=1)
        return self.model.predict(x)


def least_absolute_deviations(
    model: GramRidgeCV, x: np.ndarray, y: np.ndarray, iterations: int = 100, tol: float = 1e-4
) -> None:
    """Refit ``model`` (a fitted ridge: the starting point) to minimise ``Σ|y − ŷ|`` per target,
    by iteratively reweighted least squares (weights ``1 / max(|r|, δ)``).

    A vanishing ridge term (1e-9 of the weighted Gram's mean diagonal) keeps the one-hot action
    columns, collinear with the intercept, solvable. Each target stops once an iteration lowers
    its summed absolute error by less than ``tol`` of it (the result is then within about that
    share of the optimum); converged targets drop out of the later iterations.
    """
    n, p = x.shape
    xa = np.concatenate([x, np.ones((n, 1))], axis=1)
    y2 = y.reshape(n, -1)
    start = np.reshape(model.coef_, (y2.shape[1], p))
    coef = np.concatenate([start, np.reshape(model.intercept_, (-1, 1))], axis=1)
    delta = 1e-6 * max(float(np.abs(y2 - np.median(y2, axis=0)).mean()), 1e-12)
    residuals = np.abs(y2 - xa @ coef.T)
    objective = residuals.sum(axis=0)
    active = list(range(y2.shape[1]))
    for _ in range(iterations):
        for t in list(active):
            weights = 1.0 / np.maximum(residuals[:, t : t + 1], delta)
            root = xa * np.sqrt(weights)
            gram = root.T @ root  # one symmetric product (BLAS syrk): half a general one
            gram[np.diag_indices(p + 1)] += 1e-9 * np.trace(gram) / (p + 1)
            candidate = np.linalg.solve(gram, xa.T @ (weights[:, 0] * y2[:, t]))
            r = np.abs(y2[:, t] - xa @ candidate)
            gain = objective[t] - r.sum()
            if gain > 0:
                coef[t], residuals[:, t], objective[t] = candidate, r, r.sum()
            if gain <= tol * objective[t]:
                active.remove(t)
        if not active:
            break
    flat = y.ndim == 1
    model.coef_ = coef[0, :p] if flat else coef[:, :p]
    model.intercept_ = float(coef[0, p]) if flat else coef[:, p]


def open_loop(step, z0: np.ndarray, actions: np.ndarray) -> list[np.ndarray]:
    """``[ẑ_1, ..., ẑ_K]`` with ``ẑ_{k+1} = step(ẑ_k, a_k)``: each prediction feeds the next."""
    z, out = np.asarray(z0, np.float64), []
    for k in range(np.shape(actions)[1]):
        z = np.asarray(step(z, np.asarray(actions)[:, k]), np.float64)
        out.append(z)
    return out


def shuffled_actions(actions: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Each window's action sequence given to another window (one fixed permutation).

    The marginal distribution of actions stays the same; only their link to the state breaks.
    """
    perm = np.random.default_rng(seed).permutation(len(actions))
    return actions[torch.from_numpy(perm)]
