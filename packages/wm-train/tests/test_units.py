"""Losses, baselines, the lr schedule, collapse diagnostics and the World wrapper."""

from __future__ import annotations

import itertools
import math
import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from wm_core import UnknownNameError
from wm_train import LOSSES, DataConfig, OptimConfig, World, register_loss
from wm_train.diagnostics import CollapseMonitor, batch_std, effective_rank, latent_stats
from wm_train.losses import JepaLoss, ReconstructionLoss, RewardLoss, variance_covariance
from wm_train.run_dir import RunDir


class FlatEncoder(nn.Module):
    def __init__(self, d: int = 4) -> None:
        super().__init__()
        self.fc = nn.LazyLinear(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class AddAction(nn.Module):
    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + a[:, None].float()


def batch(b: int = 5, t: int = 2, k: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "frames": torch.randint(0, 256, (b, t + k, 1, 4, 4), generator=g, dtype=torch.uint8),
        "actions": torch.randint(0, 3, (b, k), generator=g),
        "rewards": torch.rand((b, k), generator=g),
        "index": torch.arange(b),
    }


def test_reconstruction_baseline_is_copy_last_frame() -> None:
    data = batch(t=3)
    expected = F.l1_loss(data["frames"][:, 2].float() / 255, data["frames"][:, 3].float() / 255)
    assert ReconstructionLoss().baseline(None, data) == pytest.approx(float(expected))


def test_jepa_rollout_and_copy_latent_baseline() -> None:
    torch.manual_seed(0)
    enc = FlatEncoder()
    world = World({"encoder": enc, "target_encoder": enc, "predictor": AddAction()}).eval()
    data = batch(t=2, k=2)
    loss, metrics = JepaLoss(rollout_steps=2)(world, data)
    x = data["frames"].float() / 255
    z = enc(x[:, :2])
    z1 = z + data["actions"][:, 0, None]
    z2 = z1 + data["actions"][:, 1, None]
    expected = (F.l1_loss(z1, enc(x[:, 1:3])) + F.l1_loss(z2, enc(x[:, 2:4]))) / 2
    torch.testing.assert_close(loss, expected)
    assert {"latent_l1/step1", "latent_l1/step2", "collapse/effective_rank"} <= set(metrics)
    base = JepaLoss(rollout_steps=2).baseline(world, data)
    expected_base = (F.l1_loss(z, enc(x[:, 1:3])) + F.l1_loss(z, enc(x[:, 2:4]))) / 2
    torch.testing.assert_close(base, expected_base)
    with pytest.raises(ValueError, match="horizon"):
        JepaLoss(rollout_steps=3)(world, data)


def test_variance_covariance_term_is_off_by_default_and_penalises_collapse() -> None:
    loss = JepaLoss()
    assert loss.var_weight == 0 and loss.cov_weight == 0
    var_collapsed, _ = variance_covariance(torch.zeros(16, 4))
    var_spread, _ = variance_covariance(torch.randn(256, 4) * 3)
    assert var_collapsed > 0.9 and var_spread == pytest.approx(0.0)


def test_variance_covariance_is_finite_for_a_one_sample_batch() -> None:
    z = torch.randn(1, 4, requires_grad=True)
    var, cov = variance_covariance(z)
    (var + cov).backward()
    assert var.item() == 0.0 and cov.item() == 0.0
    assert torch.isfinite(z.grad).all()


def test_reward_loss_next_latent_sources_and_mean_baseline() -> None:
    with pytest.raises(ValueError, match=r"losses\.reward\.next_latent"):
        RewardLoss(next_latent="future")
    assert RewardLoss("true").feeds == ("encoder",)
    assert RewardLoss("predicted").feeds == ("encoder", "predictor")
    loss = RewardLoss()
    head = nn.Bilinear(4, 4, 1)
    world = World({"encoder": FlatEncoder(), "reward_head": head})
    world.reward_head.forward = lambda z, zn: nn.Bilinear.forward(head, z, zn).squeeze(-1)
    data = batch(t=2)
    loss(world.train(), data)
    mean = float(data["rewards"][:, 0].mean())
    expected = F.mse_loss(torch.full((5,), mean), data["rewards"][:, 0])
    assert float(loss.baseline(world, data)) == pytest.approx(float(expected), rel=1e-5)


class ConstantHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        return self.value.expand(len(z))


def test_event_weighted_reward_loss_and_its_constant_baseline() -> None:
    """Rare rewards weighed up: the loss is the weighted mean of squared errors, and the
    baseline is the best constant under that weighting (it survives a checkpoint)."""
    with pytest.raises(ValueError, match=r"losses\.reward\.event_weight"):
        RewardLoss(event_weight=0.0)
    data = batch(b=40)
    rewards = torch.zeros(40, 1)
    rewards[:2] = 21.0  # 2 events in 40 steps
    data["rewards"] = rewards
    loss = RewardLoss(event_weight=19.0)
    world = World({"encoder": FlatEncoder(), "reward_head": ConstantHead()}).train()
    value, logs = loss(world, data)
    # 38 zeros weigh as much as 2 events
    assert float(value.detach()) == pytest.approx(0.5 * 21.0**2)
    assert float(logs["mse"]) == pytest.approx(2 / 40 * 21.0**2)
    restored = RewardLoss(event_weight=19.0)
    restored.load_state_dict(loss.state_dict())
    best = float(restored.baseline(world, data))
    assert best == pytest.approx(0.25 * 21.0**2)  # the weighted mean, 10.5, off by 10.5
    for constant in (0.0, 5.0, 10.0, 11.0, 21.0):
        world.reward_head.value.data.fill_(constant)
        assert float(restored(world.eval(), data)[0].detach()) >= best - 1e-4


def test_loss_registry_is_extensible_and_names_unknowns() -> None:
    @register_loss("test_zero", force=True)
    def zero(world, batch):
        return torch.zeros(()), {}

    assert LOSSES.get("test_zero") is zero
    with pytest.raises(ValueError, match="already registered"):
        register_loss("jepa")(zero)
    with pytest.raises(UnknownNameError, match="Did you mean 'jepa'"):
        LOSSES.get("jeppa")


def test_lr_schedule_warmup_then_cosine() -> None:
    optim = OptimConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert optim.lr_factor(0, 110) == pytest.approx(0.1)
    assert optim.lr_factor(9, 110) == pytest.approx(1.0)
    assert optim.lr_factor(60, 110) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert optim.lr_factor(110, 110) == pytest.approx(0.1)
    assert DataConfig(paths=("a", "b")).path_list() == ["a", "b"]


def test_collapse_diagnostics() -> None:
    torch.manual_seed(0)
    spread = torch.randn(512, 8)
    assert effective_rank(spread) > 7
    rank_one = torch.randn(512, 1) * torch.ones(1, 8)
    assert effective_rank(rank_one) < 1.1
    monitor = CollapseMonitor()
    monitor.observe_start(1.0)
    ok = {f"val/{k}": float(v) for k, v in latent_stats(spread).items()}
    assert monitor.check(ok) is None
    collapsed = {f"val/{k}": float(v) for k, v in latent_stats(spread * 1e-4).items()}
    with pytest.warns(RuntimeWarning, match="collapse"):
        assert monitor.check(collapsed)


def test_world_keeps_frozen_roles_in_eval_mode() -> None:
    world = World({"encoder": nn.Dropout(), "decoder": nn.Linear(2, 2)})
    world.set_frozen({"decoder"})
    world.train()
    assert world.encoder.training and not world.decoder.training
    assert not any(p.requires_grad for p in world.decoder.parameters())
    with pytest.raises(AttributeError, match="no 'predictor' module"):
        world.predictor  # noqa: B018
    with pytest.raises(UnknownNameError, match="Did you mean 'encoder'"):
        World({"encodr": nn.Identity()})


@settings(max_examples=50, deadline=None)
@given(
    total=st.integers(1, 500),
    warmup=st.integers(0, 50),
    floor=st.floats(0.0, 1.0),
)
def test_lr_factor_stays_in_range_and_decays_after_warmup(total, warmup, floor) -> None:
    optim = OptimConfig(warmup_steps=warmup, min_lr_ratio=floor)
    factors = [optim.lr_factor(step, total) for step in range(total)]
    assert all(0.0 < f <= 1.0 + 1e-12 for f in factors[:warmup])
    after = factors[warmup:]
    assert all(floor - 1e-9 <= f <= 1.0 + 1e-9 for f in after)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(after))


def test_run_files_replace_whole_files_with_the_usual_permissions(tmp_path) -> None:
    old_umask = os.umask(0o022)
    try:
        run = RunDir(tmp_path / "run", tensorboard=False)
        run.write_text("config.gin", "first")
        run.write_text("config.gin", "second")
    finally:
        os.umask(old_umask)
    target = tmp_path / "run" / "config.gin"
    assert target.read_text() == "second"
    assert target.stat().st_mode & 0o777 == 0o644  # readable by the team, like any new file
    assert [p.name for p in target.parent.iterdir()] == ["config.gin"]  # no temporary left


def test_collapse_stats_of_a_one_sample_batch_are_finite() -> None:
    stats = latent_stats(torch.randn(1, 8))  # the last batch of an epoch can hold one sample
    assert all(torch.isfinite(v) for v in stats.values())
    z = torch.randn(6, 4)
    torch.testing.assert_close(batch_std(z), z.std(0))


def test_jepa_baseline_copies_the_latent_in_the_target_space() -> None:
    """An online/target offset must not inflate the do-nothing baseline."""
    torch.manual_seed(0)
    enc, target = FlatEncoder(), FlatEncoder()
    world = World({"encoder": enc, "target_encoder": target, "predictor": AddAction()}).eval()
    data = batch(t=2, k=1)
    x = data["frames"].float() / 255
    enc(x[:, :2]), target(x[:, :2])  # materialise the lazy layers
    with torch.no_grad():
        target.fc.bias.add_(5.0)  # a constant offset between the two encoders
    base = JepaLoss().baseline(world, data)
    torch.testing.assert_close(base, F.l1_loss(target(x[:, :2]), target(x[:, 1:3])))
    assert base < 1.0  # the offset of 5 would dominate a baseline taken from the online encoder
