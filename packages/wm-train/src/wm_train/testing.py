"""Small trainers for tests and examples: one JEPA configuration every test suite can share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wm_train.config import DataConfig, OptimConfig
from wm_train.trainer import Trainer

__all__ = ["jepa_trainer"]


def jepa_trainer(store: str | Path, run_dir: str | Path, **overrides: Any) -> Trainer:
    """A two-epoch CPU JEPA (conv encoder, MLP predictor, EMA target) on ``store``.

    Latent 8, batch 32, lr 1e-3 with two warm-up steps: seconds on a tiny store.
    ``overrides`` replace any ``Trainer`` argument (``epochs=1``, ``modules={...}``).
    """
    kwargs: dict[str, Any] = dict(
        workflow="jepa",
        modules={"encoder": "conv", "predictor": "mlp"},
        ema={"target_encoder": "encoder"},
        ema_decay=(0.9, 1.0),
        loss="jepa",
        latent_dim=8,
        data=DataConfig(paths=str(store), batch_size=32),
        optim=OptimConfig(lr=1e-3, warmup_steps=2),
        epochs=2,
        run_dir=str(run_dir),
        log_every=1,
        device="cpu",
    )
    kwargs.update(overrides)
    return Trainer(**kwargs)
