"""Schedules and budgets: a constant learning rate, more updates per sample, and the samples-seen
count in metrics.jsonl and run.json that lets trials with equal sample budgets be checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import wm_data
from wm_core import ConfigError
from wm_train import OptimConfig
from wm_train.testing import assert_same_training, jepa_trainer

ROLES = ("encoder", "predictor", "target_encoder")


def train_windows(store: Path, horizon: int = 1) -> int:
    return len(wm_data.WindowDataset(str(store), context=4, horizon=horizon, split="train"))


def test_min_lr_ratio_one_is_a_constant_rate_after_warmup() -> None:
    optim = OptimConfig(lr=1e-3, warmup_steps=4, min_lr_ratio=1.0)
    assert [optim.lr_factor(s, 100) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert {optim.lr_factor(s, 100) for s in range(4, 120)} == {1.0}
    assert OptimConfig(warmup_steps=0, min_lr_ratio=1.0).lr_factor(0, 10) == 1.0


def test_samples_seen_counts_windows_drawn_and_updates_repeat_each_batch(
    tiny_store: Path, tmp_path: Path, metrics
) -> None:
    windows = train_windows(tiny_store)
    jepa_trainer(tiny_store, tmp_path / "x1").fit()
    jepa_trainer(tiny_store, tmp_path / "x3", updates_per_batch=3).fit()
    one, three = (json.loads((tmp_path / r / "run.json").read_text()) for r in ("x1", "x3"))
    batches = -(-windows // 32)
    seconds = one["training"].pop("train_seconds")
    assert 0 < seconds < 600  # wall time of the two epochs, kept for a run's cost
    assert one["training"] == {
        "batch_size": 32,
        "updates_per_batch": 1,
        "samples_per_epoch": windows,
        "steps_per_epoch": batches,
        "planned_samples": 2 * windows,
        "planned_steps": 2 * batches,
        "samples_seen": 2 * windows,
        "steps": 2 * batches,
    }
    assert three["training"]["samples_seen"] == one["training"]["samples_seen"]  # same budget
    assert three["training"]["steps"] == three["training"]["planned_steps"] == 6 * batches
    lines = metrics(tmp_path / "x3")
    train = [r for r in lines if "train/loss" in r]
    assert [r["step"] for r in train] == list(range(1, 6 * batches + 1))
    seen = [r["samples_seen"] for r in train]
    assert seen == sorted(seen) and seen[-1] == 2 * windows
    assert seen[:3] == [32, 32, 32]  # three updates on the first batch
    assert [r["samples_seen"] for r in lines if "val/loss" in r] == [windows, 2 * windows]
    # the schedule spans every update: the warm-up ends after 2 steps, the cosine at the end
    assert train[-1]["train/lr"] < train[2]["train/lr"]


def test_samples_seen_survives_resume(tiny_store: Path, tmp_path: Path, metrics) -> None:
    windows = train_windows(tiny_store)
    jepa_trainer(tiny_store, tmp_path / "straight", updates_per_batch=2).fit()
    jepa_trainer(tiny_store, tmp_path / "split", updates_per_batch=2).fit(max_epochs=1)
    info = json.loads((tmp_path / "split" / "run.json").read_text())
    assert info["training"]["samples_seen"] == windows
    jepa_trainer(tiny_store, tmp_path / "split", updates_per_batch=2).fit(resume=True)
    assert_same_training(tmp_path / "straight", tmp_path / "split", ROLES)
    info = json.loads((tmp_path / "split" / "run.json").read_text())
    assert info["training"]["samples_seen"] == 2 * windows
    keys = ("step", "samples_seen")
    assert [tuple(r.get(k) for k in keys) for r in metrics(tmp_path / "split")] == [
        tuple(r.get(k) for k in keys) for r in metrics(tmp_path / "straight")
    ]


def test_updates_per_batch_is_range_checked(tiny_store: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Trainer\.updates_per_batch = 0: must be an int >= 1"):
        jepa_trainer(tiny_store, tmp_path / "bad", updates_per_batch=0)
    assert not (tmp_path / "bad").exists()


def test_train_seconds_carry_across_resume(tiny_store: Path, tmp_path: Path) -> None:
    trainer = jepa_trainer(tiny_store, tmp_path / "run", epochs=1)
    trainer.fit()
    first = json.loads((tmp_path / "run" / "run.json").read_text())["training"]["train_seconds"]
    jepa_trainer(tiny_store, tmp_path / "run", epochs=2).fit(resume=True)
    both = json.loads((tmp_path / "run" / "run.json").read_text())["training"]["train_seconds"]
    assert 0 < first < both
