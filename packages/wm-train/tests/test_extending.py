"""Extending training without editing the loop: user callbacks (in Python and from gin) and
user losses that write only ``__call__``; plus the small numeric and shape rules they rely on."""

from __future__ import annotations

import json
from pathlib import Path

import gin
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import wm_models
from wm_core import configurable
from wm_train import BaseLoss, Callback, DataConfig, Trainer, WorldLoss
from wm_train.diagnostics import effective_rank
from wm_train.losses import FunctionLoss, make_loss
from wm_train.trainer import gradient_norm
from wm_train.world import spec_kwargs


@configurable("RecordHooks", module="test_extending")
class RecordHooks(Callback):
    """Records every hook with the counters the state holds when it is called."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.stop_after = stop_after

    def _note(self, hook: str, state) -> None:
        self.calls.append((hook, state.epoch, state.global_step))

    def on_fit_start(self, fit, state) -> None:
        super().on_fit_start(fit, state)
        self._note("fit_start", state)

    def on_epoch_start(self, state) -> None:
        self._note("epoch_start", state)

    def on_before_backward(self, state, loss) -> None:
        self._note("before_backward", state)

    def on_before_optimizer_step(self, state, grad_norm) -> None:
        self._note("before_optimizer_step", state)

    def on_step_end(self, state, batch_metrics) -> None:
        self._note("step_end", state)

    def on_validation_end(self, state, metrics) -> None:
        metrics["custom/seen"] = float(state.global_step)  # callbacks may add metrics
        self._note("validation_end", state)

    def on_epoch_end(self, state, metrics) -> None:
        self._note("epoch_end", state)
        if self.stop_after is not None and state.epoch >= self.stop_after:
            self.fit.should_stop = True

    def on_fit_end(self, state, metrics) -> None:
        self._note("fit_end", state)


def small_trainer(store: Path, run: Path, **overrides) -> Trainer:
    kwargs = dict(
        workflow="encoder_decoder",
        modules={"encoder": "conv", "predictor": "mlp", "decoder": "conv"},
        loss="reconstruction",
        latent_dim=8,
        data=DataConfig(paths=str(store), batch_size=32),
        epochs=2,
        run_dir=str(run),
        device="cpu",
        log_every=1,
    )
    kwargs.update(overrides)
    return Trainer(**kwargs)


def test_user_callback_sees_every_hook_in_order(tiny_store: Path, tmp_path: Path) -> None:
    recorder = RecordHooks()
    small_trainer(tiny_store, tmp_path / "run", callbacks=[recorder]).fit()
    names = [c[0] for c in recorder.calls]
    steps = names.count("step_end") // 2
    assert steps >= 2
    step = ["before_backward", "before_optimizer_step", "step_end"]
    epoch = ["epoch_start", *step * steps, "validation_end", "epoch_end"]
    assert names == ["fit_start", *epoch * 2, "fit_end"]
    assert recorder.calls[1] == ("epoch_start", 0, 0)
    assert recorder.calls[2] == ("before_backward", 0, 0)
    assert recorder.calls[4] == ("step_end", 0, 1)  # global_step counts the step just taken
    ends = [c for c in recorder.calls if c[0] == "epoch_end"]
    assert ends == [("epoch_end", 1, steps), ("epoch_end", 2, 2 * steps)]
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["custom/seen"] for m in lines if "custom/seen" in m] == [steps, 2.0 * steps]


def test_callback_bound_from_gin_can_end_the_run(tiny_store: Path, tmp_path: Path) -> None:
    gin.parse_config(
        ["Trainer.callbacks = [@test_extending.RecordHooks()]", "RecordHooks.stop_after = 1"]
    )
    trainer = small_trainer(tiny_store, tmp_path / "run", epochs=3)
    (recorder,) = trainer.callbacks
    trainer.fit()
    assert [c[:2] for c in recorder.calls if c[0] == "epoch_end"] == [("epoch_end", 1)]
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_done"] == 1


def test_trainer_refuses_a_callback_that_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"Trainer\.callbacks"):
        small_trainer(tmp_path / "absent.h5", tmp_path / "run", callbacks=[object()])


class TwoStepL1(BaseLoss):
    """A user loss that writes only ``__call__`` and one declared attribute."""

    horizon = 2
    reward_source = "true"

    def __call__(self, world, batch):
        t = batch["frames"].shape[1] - batch["actions"].shape[1]
        z = world.encoder(batch["frames"][:, :t].float() / 255)
        loss = F.l1_loss(
            world.decoder(world.predictor(z, batch["actions"][:, 0])).float(),
            batch["frames"][:, t].float() / 255,
        )
        return loss, {"loss": loss.detach()}


def test_user_loss_with_only_call_trains_and_its_fields_reach_run_json(
    tiny_store: Path, tmp_path: Path
) -> None:
    assert isinstance(TwoStepL1(), WorldLoss)
    small_trainer(tiny_store, tmp_path / "run", loss=TwoStepL1(), epochs=1).fit()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["data"]["horizon"] == 2  # windows sized by the declared horizon
    assert info["loss"] == {"name": f"{__name__}.TwoStepL1", "reward_source": "true"}
    assert info["cached_latents"] is False  # feeds is None: nothing to cache
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [m for m in lines if "val/loss" in m][-1]
    assert "val/baseline_loss" not in val  # the default baseline is None: none logged


def test_plain_functions_are_wrapped_and_partial_losses_refused() -> None:
    def fn(world, batch):
        return torch.zeros(()), {}

    loss = make_loss(fn)
    assert isinstance(loss, FunctionLoss) and loss.horizon == 1 and loss.feeds is None
    assert loss.state_dict() == {} and loss.baseline(None, {}) is None

    class HalfLoss:
        horizon = 1

        def __call__(self, world, batch):
            return torch.zeros(()), {}

    with pytest.raises(TypeError, match="lacks feeds, reward_source"):
        make_loss(HalfLoss())


def test_gradient_norm_needs_no_newer_torch(monkeypatch) -> None:
    monkeypatch.delattr(torch.nn.utils, "get_total_norm", raising=False)
    params = [nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(2))]
    params[0].grad = torch.tensor([3.0, 0.0, 0.0])
    params[1].grad = torch.tensor([0.0, 4.0])
    before = [p.grad.clone() for p in params]
    assert float(gradient_norm(params, None)) == pytest.approx(5.0)
    assert all(torch.equal(p.grad, b) for p, b in zip(params, before, strict=True))  # unchanged
    assert float(gradient_norm(params, 1.0)) == pytest.approx(5.0)  # the norm before clipping
    assert float(torch.linalg.vector_norm(torch.cat([p.grad for p in params]))) == pytest.approx(
        1.0, rel=1e-4
    )
    params[1].grad = torch.tensor([float("nan"), 0.0])
    assert torch.isnan(gradient_norm(params, None))


def test_spec_of_a_loaded_module_reads_only_real_specs() -> None:
    assert spec_kwargs(nn.Linear(2, 2)) == {}  # built by hand: no spec, nothing to check
    encoder = wm_models.build("encoder", "conv", frame_shape=(1, 16, 16), context=2, latent_dim=4)
    assert spec_kwargs(encoder)["latent_dim"] == 4
    broken = nn.Linear(2, 2)
    broken._wm_model_spec = {"kind": "encoder", "name": "conv", "kwargs": {"bad": object()}}
    with pytest.raises(TypeError, match="plain python"):  # a damaged spec is not silently {}
        spec_kwargs(broken)


@pytest.mark.parametrize("value", [0.0, 0.1, 0.3, -2.5])
def test_effective_rank_of_a_constant_cloud_is_zero(value: float) -> None:
    assert float(effective_rank(torch.full((7, 5), value))) == 0.0
    assert float(effective_rank(torch.randn(1, 8))) == 0.0  # one sample is a constant cloud
    line = torch.randn(64, 1) * torch.ones(1, 5)
    assert float(effective_rank(line)) == pytest.approx(1.0, abs=1e-3)
