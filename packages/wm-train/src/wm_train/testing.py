"""Small trainers for tests and examples: one JEPA configuration every test suite can share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import wm_models
from wm_train.config import DataConfig, OptimConfig
from wm_train.trainer import Trainer

__all__ = [
    "assert_same_tensors",
    "assert_same_training",
    "encoder_decoder_trainer",
    "jepa_trainer",
]


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


def encoder_decoder_trainer(store: str | Path, run_dir: str | Path, **overrides: Any) -> Trainer:
    """A two-epoch CPU encoder-decoder (conv encoder, MLP predictor, conv decoder) on ``store``,
    sized like ``jepa_trainer``; ``loss`` defaults to the seed's L1 reconstruction."""
    kwargs: dict[str, Any] = dict(
        workflow="encoder_decoder",
        modules={"encoder": "conv", "predictor": "mlp", "decoder": "conv"},
        loss="reconstruction",
        latent_dim=8,
        data=DataConfig(paths=str(store), batch_size=32),
        optim=OptimConfig(lr=1e-3, warmup_steps=2),
        epochs=2,
        run_dir=str(run_dir),
        log_every=1,
        device="cpu",
        curves=False,
    )
    kwargs.update(overrides)
    return Trainer(**kwargs)


def assert_same_tensors(a: Any, b: Any, where: str = "") -> None:
    """Nested dicts / lists of tensors equal bit for bit (``where`` names the first difference)."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"differs at {where}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_tensors(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def assert_same_training(
    run_a: str | Path, run_b: str | Path, roles: tuple[str, ...], name: str = "last"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two runs' checkpoints hold identical weights for ``roles`` and identical optimiser state
    (the resume guarantee); returns both checkpoints for further checks."""
    a, b = (
        wm_models.load_checkpoint(Path(run) / "checkpoints" / f"{name}.pt")
        for run in (run_a, run_b)
    )
    for role in roles:
        assert_same_tensors(
            a["modules"][role]["state_dict"], b["modules"][role]["state_dict"], role
        )
    assert_same_tensors(a["extra"]["optimizer"]["state"], b["extra"]["optimizer"]["state"], "adam")
    return a, b
