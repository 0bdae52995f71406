"""Evaluation settings: one dataclass, bindable from gin as ``EvalConfig.<field>``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

POSITIVE = (
    "batch_size",
    "max_samples",
    "neighbour_samples",
    "n_neighbors",
    "noise_samples",
    "probe_train_samples",
    "rollout_horizon",
)


@dataclass
class EvalConfig:
    """What to evaluate and how much data to use.

    ``probes``: names in the probe registry (``wm_eval.probes.PROBES``, plugins included);
    None runs every registered probe in the registry's default order. An unknown name raises
    ``wm_core.UnknownNameError`` with the closest known names.

    ``split``: the episodes every probe scores: ``'test'`` (held out from training and from
    checkpoint selection), or ``'val'`` to look at what selection saw. Probes fit their
    read-outs (ridge, logistic, linear dynamics) on the training split.

    Subsampling (all deterministic from ``seed``): every probe draws at most
    ``max_samples`` windows of that split; the neighbourhood metrics (trustworthiness,
    continuity) use the first ``neighbour_samples`` of those, TwoNN and the participation
    ratio all of them; state probes fit on at most ``probe_train_samples`` training
    windows; noise robustness encodes ``noise_samples`` windows per noise level.
    """

    probes: tuple[str, ...] | None = None
    split: str = "test"
    device: str = "auto"
    batch_size: int = 256
    seed: int = 0
    max_samples: int = 4000
    neighbour_samples: int = 4000
    n_neighbors: int = 10
    working_memory_mib: int = 256
    pixel_space: str = "context"
    noise_sigmas: tuple[float, ...] = (0.01, 0.03, 0.1)
    noise_samples: int = 512
    probe_train_samples: int = 8000
    ram_top_bytes: int = 16
    rollout_horizon: int = 5
    grid_samples: int = 6
    gif_samples: int = 4
    random_encoder_seed: int = 0
    data_paths: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        from wm_eval.probes import check_probes, default_probes  # the registry imports torch

        if self.probes is None:
            self.probes = default_probes()
        elif isinstance(self.probes, str):
            raise ValueError(f"probes: a tuple of probe names, got the string {self.probes!r}")
        self.probes = check_probes(tuple(self.probes))
        if self.split not in ("test", "val"):
            raise ValueError(
                f"split: 'test' (held-out episodes, the default) or 'val', got {self.split!r}"
            )
        for name in POSITIVE:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.pixel_space not in ("context", "last_frame"):
            raise ValueError(f"pixel_space: 'context' or 'last_frame', got {self.pixel_space!r}")
        if any(s < 0 for s in self.noise_sigmas):
            raise ValueError(f"noise_sigmas: must be >= 0, got {self.noise_sigmas}")
        self.noise_sigmas = tuple(float(s) for s in self.noise_sigmas)
        if self.data_paths is not None:
            self.data_paths = tuple(str(p) for p in self.data_paths)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
