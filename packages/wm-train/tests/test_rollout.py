"""K-step open-loop rollout losses: the encoder-decoder decodes every predicted latent, both losses
weigh step i by rho^i, and a horizon shorter than K is refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wm_core import ConfigError
from wm_train import DataConfig, World
from wm_train.losses import JepaLoss, ReconstructionLoss, step_weighted_mean
from wm_train.testing import encoder_decoder_trainer, jepa_trainer


class FlatEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class AddAction(nn.Module):
    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + a[:, None].float()


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z).view(-1, 1, 4, 4)


def window_batch(k: int, b: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "frames": torch.randint(0, 256, (b, 2 + k, 1, 4, 4), generator=g, dtype=torch.uint8),
        "actions": torch.randint(0, 3, (b, k), generator=g),
        "rewards": torch.zeros(b, k),
        "index": torch.arange(b),
    }


def test_step_weighted_mean_known_answers() -> None:
    steps = [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0)]
    assert float(step_weighted_mean(steps, 1.0)) == pytest.approx(7 / 3)
    # rho = 0.5: (1 + 0.5 * 2 + 0.25 * 4) / 1.75
    assert float(step_weighted_mean(steps, 0.5)) == pytest.approx(3 / 1.75)


@pytest.mark.parametrize("rho", [1.0, 0.5])
def test_encoder_decoder_rollout_decodes_every_step(rho: float) -> None:
    torch.manual_seed(0)
    world = World({"encoder": FlatEncoder(), "predictor": AddAction(), "decoder": Decoder()})
    world.eval()
    data = window_batch(k=3)
    loss_fn = ReconstructionLoss(rollout_steps=3, rho=rho)
    loss, metrics = loss_fn(world, data)
    x = data["frames"].float() / 255
    z = world.encoder(x[:, :2])
    steps, l1 = [], []
    for i in range(3):
        z = z + data["actions"][:, i, None]
        err = F.l1_loss(world.decoder(z), x[:, 2 + i])
        steps.append(err)
        l1.append(err)
    weights = torch.tensor([rho**i for i in range(3)])
    torch.testing.assert_close(loss, (torch.stack(steps) * weights).sum() / weights.sum())
    for i in range(3):
        torch.testing.assert_close(metrics[f"pixel_l1/step{i + 1}"], l1[i])
    torch.testing.assert_close(metrics["pixel_l1"], l1[0])
    copy = [F.l1_loss(x[:, 1], x[:, 2 + i]) for i in range(3)]
    expected_base = (torch.stack(copy) * weights).sum() / weights.sum()
    torch.testing.assert_close(loss_fn.baseline(world, data), expected_base)
    # cached features give the same loss
    feats = loss_fn.features(world, data)
    assert feats["z_next"].shape == (5, 3, 3) and feats["next_frame"].shape == (5, 3, 1, 4, 4)
    torch.testing.assert_close(loss_fn(world, feats)[0], loss)
    torch.testing.assert_close(loss_fn.baseline(world, feats), expected_base)


def test_jepa_rollout_weighs_steps_by_rho() -> None:
    torch.manual_seed(0)
    enc = FlatEncoder()
    world = World({"encoder": enc, "target_encoder": enc, "predictor": AddAction()}).eval()
    data = window_batch(k=2)
    loss, metrics = JepaLoss(rollout_steps=2, rho=0.25)(world, data)
    a, b = metrics["latent_l1/step1"], metrics["latent_l1/step2"]
    torch.testing.assert_close(loss, (a + 0.25 * b) / 1.25)
    torch.testing.assert_close(metrics["latent_l1"], (a + b) / 2)


def test_rollout_needs_a_horizon_of_k_and_says_so() -> None:
    world = World({"encoder": FlatEncoder(), "predictor": AddAction(), "decoder": Decoder()})
    message = (
        r"losses\.reconstruction\.rollout_steps=3 needs windows with horizon >= 3, got 2 "
        r"\(DataConfig\.horizon\)"
    )
    with pytest.raises(ValueError, match=message):
        ReconstructionLoss(rollout_steps=3)(world, window_batch(k=2))
    enc = FlatEncoder()
    jepa = World({"encoder": enc, "target_encoder": enc, "predictor": AddAction()})
    with pytest.raises(ValueError, match=r"losses\.jepa\.rollout_steps=3 needs windows"):
        JepaLoss(rollout_steps=3)(jepa, window_batch(k=2))


def test_trainer_refuses_a_horizon_below_the_rollout_before_creating_anything(
    tiny_store: Path, tmp_path: Path
) -> None:
    run = tmp_path / "short"
    for make, loss in (
        (encoder_decoder_trainer, ReconstructionLoss(rollout_steps=3)),
        (jepa_trainer, JepaLoss(rollout_steps=3)),
    ):
        with pytest.raises(ConfigError, match=r"DataConfig\.horizon = 2: loss .* horizon >= 3"):
            make(tiny_store, run, loss=loss, data=DataConfig(paths=str(tiny_store), horizon=2))
    assert not run.exists()


def test_encoder_decoder_rollout_k3_trains_on_horizon_3_windows(
    tiny_store: Path, tmp_path: Path, metrics
) -> None:
    run = tmp_path / "ed_k3"
    encoder_decoder_trainer(
        tiny_store, run, loss=ReconstructionLoss(rollout_steps=3, rho=0.5), epochs=3
    ).fit()
    info = json.loads((run / "run.json").read_text())
    assert info["data"]["horizon"] == 3
    records = metrics(run)
    first = next(r["train/loss"] for r in records if "train/loss" in r)
    epochs = [r for r in records if "train/epoch_loss" in r]
    assert epochs[-1]["train/epoch_loss"] < 0.9 * first
    assert {"val/pixel_l1/step1", "val/pixel_l1/step3", "val/baseline_loss"} <= set(epochs[-1])


def test_jepa_decoder_probe_trains_on_cached_k_step_rollouts(
    jepa_run: Path, train_workflow, tmp_path: Path, metrics
) -> None:
    """ed_k3.gin on the JEPA decoder probe: the frozen encoder and predictor roll out 3 steps
    once per window (latent cache), and only the decoder trains on the decoded rollouts."""
    run = train_workflow(
        "jepa_decoder",
        tmp_path / "jd_k3",
        f"INIT_FROM = {str(jepa_run)!r}",
        "losses.reconstruction.rollout_steps = 3",
    )
    info = json.loads((run / "run.json").read_text())
    assert info["cached_latents"] is True and info["data"]["horizon"] == 3
    records = metrics(run)
    first = next(r["train/loss"] for r in records if "train/loss" in r)
    epochs = [r for r in records if "train/epoch_loss" in r]
    assert epochs[-1]["train/epoch_loss"] < 0.9 * first
    assert "val/pixel_l1/step3" in epochs[-1]
    assert "val/collapse/effective_rank" not in epochs[-1]  # the frozen encoder is not watched
