"""Per-window scores with episode ids: what every reconstruction and rollout cell is made of.

A cell is a ``stats.Measurement`` over the scored windows, so it gets a 95% episode-level
bootstrap interval and can be compared, paired, with any other cell of its row (a model and a
baseline score the very same windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from wm_eval.baselines import FrameReference
from wm_eval.data import DataSource
from wm_eval.metrics.images import changed_pixels, region_sums, window_errors
from wm_eval.metrics.rollout import error_over_variance, squared_errors
from wm_eval.regions import object_regions
from wm_eval.stats import Measurement, Parts


def window_episodes(
    src: DataSource, split: str, horizon: int, batch: dict[str, torch.Tensor]
) -> np.ndarray:
    """The store episode of every window of ``batch`` (``batch["episode"]`` when present)."""
    if "episode" in batch:
        return np.asarray(batch["episode"])
    episodes, _ = src.dataset(split, horizon).window_episode(batch["index"].numpy())
    return np.asarray(episodes)


def to_unit(frames: torch.Tensor) -> np.ndarray:
    """uint8 frames as float32 numpy on the [0, 1] scale."""
    return frames.numpy().astype(np.float32) / 255.0


def frame_reference(src: DataSource, max_samples: int, seed: int) -> FrameReference:
    """Mean and median next frame of (at most ``max_samples``) training-split windows."""
    train = src.batch("train", 1, max_samples, seed)["frames"]
    return FrameReference.fit(to_unit(train[:, src.context]))


@dataclass
class NextFrameWindows:
    """The scored next-frame windows of one store and their regions.

    ``objects`` (``[N, H, W]``) are the object regions, ``changed`` (``[N, C, H, W]``) the values
    that differ from the last context frame by more than the change threshold.
    """

    frames: torch.Tensor
    actions: torch.Tensor
    true: np.ndarray
    last: np.ndarray
    episodes: np.ndarray
    objects: np.ndarray
    changed: np.ndarray
    regions: str

    @classmethod
    def load(cls, src: DataSource, split: str, max_samples: int, seed: int) -> NextFrameWindows:
        batch = src.batch(split, 1, max_samples, seed)
        T, frames = src.context, batch["frames"]
        window = to_unit(frames)
        ram = batch["ram"].numpy() if "ram" in batch else None
        objects, how = object_regions(window, ram, src.metadata.get("env_id"))
        true, last = window[:, T].copy(), window[:, T - 1].copy()  # not views of every frame
        return cls(
            frames=frames,
            actions=batch["actions"][:, 0],
            true=true,
            last=last,
            episodes=window_episodes(src, split, 1, batch),
            objects=objects,
            changed=changed_pixels(last, true),
            regions=how,
        )

    def measure(self, pred: np.ndarray) -> dict[str, Measurement]:
        """Every reconstruction row of ``pred`` (``[N, C, H, W]`` in [0, 1]) on these windows."""
        eps = self.episodes
        out = {k: Measurement.mean(v, eps) for k, v in window_errors(self.true, pred).items()}
        for key, mask in (
            ("l1_objects", self.objects),
            ("l1_background", ~self.objects),
            ("l1_changed", self.changed),
        ):
            sums, counts = region_sums(self.true, pred, mask)
            out[key] = Measurement.pooled(sums, counts, eps)
        share = self.objects.reshape(len(eps), -1).mean(axis=1)
        out["objects_share"] = Measurement.mean(share, eps)
        out["background_share"] = Measurement.mean(1.0 - share, eps)
        out["changed_share"] = Measurement.mean(
            self.changed.reshape(len(eps), -1).mean(axis=1), eps
        )
        return out


def latent_error(pred: np.ndarray, target: np.ndarray, episodes: np.ndarray) -> Measurement:
    """Mean ``‖ẑ − z‖²`` over total variance of ``z``, both recomputed on every resample."""
    errors = squared_errors(pred, target)
    m = Measurement.of(error_over_variance, episodes, errors, target)
    z = np.asarray(target, dtype=np.float64)
    z = z - z.mean(axis=0)  # centred: the variance from sums keeps its precision
    per_window = np.concatenate([errors[:, None], z, z * z, np.ones((len(z), 1))], axis=1)
    return Measurement(m.episodes, m.statistic, Parts.of_windows(per_window, m.episodes, _eov))


def latent_spread(target: np.ndarray) -> float:
    """Mean ``|z − median(z)|`` per dimension of ``[N, D]`` latents: the L1 error of predicting the
    scored windows' own per-dimension median (the L1 counterpart of the total variance)."""
    z = np.asarray(target, dtype=np.float64)
    return float(np.abs(z - np.median(z, axis=0)).sum(axis=1).mean())


def latent_abs_error(
    pred: np.ndarray, target: np.ndarray, episodes: np.ndarray, spread: float
) -> Measurement:
    """Mean ``‖ẑ − z‖₁`` over ``spread`` (:func:`latent_spread` of the targets, held fixed: a
    constant scale, so paired differences between columns are exact)."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"pred: shape {pred.shape} does not match target {target.shape}")
    errors = np.abs(pred - target).sum(axis=1)
    return Measurement.mean(errors / (spread if spread > 0 else 1.0), episodes)


def _eov(s: np.ndarray) -> np.ndarray:
    """``error_over_variance`` from summed parts ``[err, z (D), z² (D), 1]``."""
    d = (s.shape[-1] - 2) // 2
    n = s[..., -1:]
    mean = s[..., 1 : 1 + d] / n
    var = np.maximum(s[..., 1 + d : 1 + 2 * d] / n - mean * mean, 0.0).sum(axis=-1)
    err = s[..., 0] / n[..., 0]
    safe = np.where(var > 0, var, 1.0)
    return np.where(var > 0, err / safe, np.where(err == 0, 0.0, np.inf))
