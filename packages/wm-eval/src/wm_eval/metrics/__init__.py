"""Pure numpy/sklearn metric functions: no torch, no checkpoints, no files."""

from wm_eval.metrics.images import image_errors
from wm_eval.metrics.intrinsic_dim import (
    covariance_spectrum,
    effective_rank,
    participation_ratio,
    twonn_dimension,
)
from wm_eval.metrics.neighbours import continuity, knn_indices, trustworthiness
from wm_eval.metrics.probes import event_probe, linear_probe
from wm_eval.metrics.representation import (
    collapse_stats,
    median_pairwise_distance,
    noise_robustness,
    smoothness,
)
from wm_eval.metrics.reward import reward_metrics
from wm_eval.metrics.rollout import normalised_latent_error

__all__ = [
    "collapse_stats",
    "continuity",
    "covariance_spectrum",
    "effective_rank",
    "event_probe",
    "image_errors",
    "knn_indices",
    "linear_probe",
    "median_pairwise_distance",
    "noise_robustness",
    "normalised_latent_error",
    "participation_ratio",
    "reward_metrics",
    "smoothness",
    "trustworthiness",
    "twonn_dimension",
]
