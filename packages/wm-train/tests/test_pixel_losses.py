"""Pixel losses of the reconstruction loss: known values, the training split's median background,
training with each loss on a real store, and exact resume of the foreground-weighted loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import wm_data
from wm_core import UnknownNameError
from wm_train import World
from wm_train.losses import ReconstructionLoss
from wm_train.pixel_loss import PIXEL_LOSSES, median_frame, pixel_error, train_frames
from wm_train.testing import assert_same_training, encoder_decoder_trainer

ROLES = ("encoder", "predictor", "decoder")


def test_pixel_errors_match_their_definitions() -> None:
    target = torch.tensor([[[[0.0, 0.5], [0.2, 1.0]]]])  # [1, 1, 2, 2]
    pred = torch.tensor([[[[0.1, 0.1], [0.2, 0.0]]]])
    background = torch.tensor([[[0, 0], [51, 0]]], dtype=torch.uint8)  # 0.2 at (1, 0)
    diff = (pred - target).abs()
    assert float(pixel_error(pred, target, "l1")) == pytest.approx(float(diff.mean()))
    assert float(pixel_error(pred, target, "mse")) == pytest.approx(float(diff.square().mean()))
    # off the background: (0, 1) and (1, 1); weight 1 + 4 there
    weight = torch.tensor([[[[1.0, 5.0], [1.0, 5.0]]]])
    fg = pixel_error(
        pred, target, "foreground_l1", background=background, fg_weight=4.0, threshold=0.05
    )
    assert float(fg) == pytest.approx(float((weight * diff).mean()))
    fg2 = pixel_error(
        pred, target, "foreground_mse", background=background, fg_weight=4.0, threshold=0.05
    )
    assert float(fg2) == pytest.approx(float((weight * diff.square()).mean()))
    with pytest.raises(ValueError, match="background"):
        pixel_error(pred, target, "foreground_l1")


def test_median_frame_is_exact_and_independent_of_chunking() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(101, 2, 3, 4), dtype=np.uint8)
    frames[:70, 0, 0, 0] = 7  # a static background pixel
    expected = np.quantile(frames, 0.5, axis=0, method="lower").astype(np.uint8)
    whole = median_frame([frames])
    assert whole.dtype == torch.uint8 and whole.shape == (2, 3, 4)
    assert torch.equal(whole, torch.from_numpy(expected))
    assert int(whole[0, 0, 0]) == 7
    chunks = [frames[i : i + 17] for i in range(0, 101, 17)][::-1]
    assert torch.equal(median_frame(chunks), whole)
    even = frames[:100]
    assert torch.equal(
        median_frame([even]),
        torch.from_numpy(np.quantile(even, 0.5, axis=0, method="lower").astype(np.uint8)),
    )
    with pytest.raises(ValueError, match="no frames"):
        median_frame([])


def test_train_frames_reads_every_frame_of_the_train_episodes_once(tiny_store: Path) -> None:
    train = wm_data.WindowDataset(str(tiny_store), context=4, horizon=1, split="train")
    chunks = list(train_frames(train))
    rows = train.reader.episodes[train.episode_ids]
    assert [len(c) for c in chunks] == [int(n) + 1 for n in rows["length"]]
    assert all(c.dtype == np.uint8 and c.shape[1:] == train.frame_shape for c in chunks)


def test_reconstruction_loss_refuses_unknown_pixel_losses_and_ranges() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'mse'"):
        ReconstructionLoss(pixel_loss="mes")
    with pytest.raises(ValueError, match=r"losses\.reconstruction\.threshold = 1\.5"):
        ReconstructionLoss(threshold=1.5)
    with pytest.raises(ValueError, match=r"losses\.reconstruction\.rho = 0"):
        ReconstructionLoss(rho=0)


class LinearDecoder(torch.nn.Module):
    def __init__(self, d: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape
        self.fc = torch.nn.Linear(d, int(np.prod(shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z).unflatten(1, self.shape)


def test_plain_whole_frame_l1_is_logged_whatever_the_loss() -> None:
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (6, 3, 1, 4, 4), dtype=torch.uint8)
    batch = {"frames": frames, "actions": torch.zeros(6, 1, dtype=torch.long)}
    world = World(
        {
            "encoder": torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 3)),
            "predictor": _AddAction(),
            "decoder": LinearDecoder(3, (1, 4, 4)),
        }
    ).eval()
    loss_fn = ReconstructionLoss(pixel_loss="mse")
    loss, metrics = loss_fn(world, batch)
    pred = world.decoder(world.predictor(world.encoder(frames[:, :2].float() / 255), None))
    target = frames[:, 2].float() / 255
    torch.testing.assert_close(loss, F.mse_loss(pred, target))
    torch.testing.assert_close(metrics["pixel_l1"], F.l1_loss(pred, target))
    copy = F.l1_loss(frames[:, 1].float() / 255, target)
    torch.testing.assert_close(metrics["copy_pixel_l1"], copy)
    torch.testing.assert_close(
        loss_fn.baseline(world, batch), F.mse_loss(frames[:, 1] / 255, target)
    )
    assert "collapse/effective_rank" in metrics  # the encoder's latent is watched too


class _AddAction(torch.nn.Module):
    def forward(self, z: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
        return z


@pytest.mark.parametrize("kind", PIXEL_LOSSES)
def test_each_pixel_loss_trains_and_reduces_its_loss(
    kind: str, tiny_store: Path, tmp_path: Path, metrics
) -> None:
    run = tmp_path / kind
    encoder_decoder_trainer(
        tiny_store, run, loss=ReconstructionLoss(pixel_loss=kind, fg_weight=5.0), epochs=3
    ).fit()
    records = metrics(run)
    first_step = next(r["train/loss"] for r in records if "train/loss" in r)
    epochs = [r for r in records if "train/epoch_loss" in r]
    assert epochs[-1]["train/epoch_loss"] < 0.9 * first_step
    assert epochs[-1]["val/loss"] < epochs[0]["val/loss"]
    assert all("val/pixel_l1" in r and "val/copy_pixel_l1" in r for r in epochs)
    assert ("val/foreground_fraction" in epochs[-1]) == kind.startswith("foreground")
    info = json.loads((run / "run.json").read_text())
    assert info["loss"]["name"] == "reconstruction"


def test_background_is_the_train_split_median_and_survives_resume_exactly(
    tiny_store: Path, tmp_path: Path
) -> None:
    def trainer(run: Path):
        return encoder_decoder_trainer(
            tiny_store, run, loss=ReconstructionLoss(pixel_loss="foreground_l1")
        )

    trainer(tmp_path / "straight").fit()
    trainer(tmp_path / "split").fit(max_epochs=1)
    trainer(tmp_path / "split").fit(resume=True)
    a, b = assert_same_training(tmp_path / "straight", tmp_path / "split", ROLES)
    background = a["extra"]["loss"]["background"]
    assert torch.equal(background, b["extra"]["loss"]["background"])
    train = wm_data.WindowDataset(str(tiny_store), context=4, horizon=1, split="train")
    frames = np.concatenate(list(train_frames(train)))
    expected = np.quantile(frames, 0.5, axis=0, method="lower").astype(np.uint8)
    assert background.dtype == torch.uint8
    assert torch.equal(background, torch.from_numpy(expected))
    # a fresh loss reading the saved state scores a batch exactly as the trained one did
    restored = ReconstructionLoss(pixel_loss="foreground_l1")
    restored.load_state_dict(a["extra"]["loss"])
    assert torch.equal(restored.background, background)
