"""Trainer behaviour: exact resume, NaN stop, freeze policies, latent cache, early errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import wm_models
from wm_train import (
    DataConfig,
    FreezeModules,
    NonFiniteLossError,
    ReconstructionLoss,
    RunDirError,
    Trainer,
    UnfreezeAfter,
    UnknownNameError,
)
from wm_train.testing import assert_same_tensors, assert_same_training, jepa_trainer

ROLES = ("encoder", "predictor", "target_encoder")


def checkpoint(run_dir: Path, name: str = "last") -> dict:
    return wm_models.load_checkpoint(run_dir / "checkpoints" / f"{name}.pt")


def test_resume_is_bit_exact(tiny_store: Path, tmp_path: Path) -> None:
    jepa_trainer(tiny_store, tmp_path / "straight").fit()
    jepa_trainer(tiny_store, tmp_path / "split").fit(max_epochs=1)
    assert json.loads((tmp_path / "split" / "run.json").read_text())["epochs_done"] == 1
    jepa_trainer(tiny_store, tmp_path / "split").fit(resume=True)
    a, b = assert_same_training(tmp_path / "straight", tmp_path / "split", ROLES)
    assert a["extra"]["global_step"] == b["extra"]["global_step"]
    info = json.loads((tmp_path / "split" / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_done"] == 2


def test_run_dir_is_not_overwritten(tiny_store: Path, tmp_path: Path) -> None:
    jepa_trainer(tiny_store, tmp_path / "run", epochs=1).fit()
    with pytest.raises(RunDirError, match="--resume"):
        jepa_trainer(tiny_store, tmp_path / "run", epochs=1).fit()


class NanAfter(ReconstructionLoss):
    """Reconstruction loss that turns NaN at a given training call."""

    def __init__(self, calls: int) -> None:
        self.calls, self.seen = calls, 0

    def __call__(self, world, batch):
        loss, metrics = super().__call__(world, batch)
        if world.training:
            self.seen += 1
            if self.seen >= self.calls:
                loss = loss * float("nan")
        return loss, metrics


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_store: Path, tmp_path: Path) -> None:
    run = tmp_path / "nan"
    trainer = Trainer(
        workflow="encoder_decoder",
        modules={"encoder": "conv", "predictor": "mlp", "decoder": "conv"},
        loss=NanAfter(calls=5),  # 4 steps per epoch: NaN in the second epoch
        latent_dim=8,
        data=DataConfig(paths=str(tiny_store), batch_size=32),
        epochs=3,
        run_dir=str(run),
        device="cpu",
    )
    with pytest.raises(NonFiniteLossError, match="loss is nan at epoch 2"):
        trainer.fit()
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and "NonFiniteLossError" in info["error"]
    assert info["epochs_done"] == 1
    last = checkpoint(run)
    assert last["extra"]["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in last["modules"]["encoder"]["state_dict"].values())


def test_unfreeze_after_keeps_weights_then_trains(
    jepa_run: Path, tiny_store: Path, tmp_path
) -> None:
    run = tmp_path / "finetune"

    def trainer() -> Trainer:
        return Trainer(
            workflow="reward_predictor",
            init_from=str(jepa_run),
            load=["encoder"],
            modules={"reward_head": "mlp"},
            loss="reward",
            freeze=UnfreezeAfter(["encoder"], epochs=1),
            data=DataConfig(paths=str(tiny_store), batch_size=32),
            epochs=2,
            run_dir=str(run),
            device="cpu",
        )

    first = trainer()
    first.fit(max_epochs=1)
    assert first.world.encoder.training is False  # frozen roles sit in eval mode
    source = checkpoint(jepa_run, "best")["modules"]["encoder"]["state_dict"]
    after1 = checkpoint(run)["modules"]["encoder"]["state_dict"]
    assert_same_tensors(source, after1, "encoder after frozen epoch")
    groups = checkpoint(run)["extra"]["optimizer"]["param_groups"]
    assert [g["role"] for g in groups] == ["reward_head"]  # frozen: not in the optimizer
    info = json.loads((run / "run.json").read_text())
    assert info["cached_latents"] is False  # the encoder unfreezes, so no cache
    trainer().fit(resume=True)
    last = checkpoint(run)
    assert [g["role"] for g in last["extra"]["optimizer"]["param_groups"]] == [
        "reward_head",
        "encoder",
    ]
    after2 = last["modules"]["encoder"]["state_dict"]
    assert any(not torch.equal(source[k], after2[k]) for k in source)


def test_cached_latents_train_like_re_encoding(jepa_run: Path, tiny_store: Path, tmp_path) -> None:
    def run(cache: bool) -> dict:
        torch.use_deterministic_algorithms(False)
        Trainer(
            workflow="reward_predictor",
            init_from=str(jepa_run),
            load=["encoder"],
            modules={"reward_head": "mlp"},
            loss="reward",
            freeze=FreezeModules(["encoder"]),
            cache_latents=cache,
            data=DataConfig(paths=str(tiny_store), batch_size=32),
            epochs=1,
            run_dir=str(tmp_path / f"cache_{cache}"),
            device="cpu",
        ).fit()
        return checkpoint(tmp_path / f"cache_{cache}")["modules"]["reward_head"]["state_dict"]

    cached, direct = run(True), run(False)
    # The head standardises its inputs: the float noise between a batch of 32 and the cache's
    # batches is divided by the latents' std (~0.01 here), so it reaches the weights ~100x larger.
    for key in cached:
        torch.testing.assert_close(cached[key], direct[key], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"modules": {"encoder": "cnv"}}, UnknownNameError, "Did you mean 'conv'"),
        ({"modules": {"encodr": "conv"}}, UnknownNameError, "Did you mean 'encoder'"),
        ({"freeze": FreezeModules(["encodr"])}, UnknownNameError, "Did you mean 'encoder'"),
        (
            {"freeze": "freez_modules"},
            UnknownNameError,
            r"Known freeze policies: .*none, unfreeze_after",
        ),
        ({"loss": "jepaa"}, UnknownNameError, "Did you mean 'jepa'"),
        ({"ema": {"target_encoder": "encodr"}}, UnknownNameError, "Did you mean 'encoder'"),
        ({"load": ["encoder"]}, ValueError, "both built"),
        ({"init_from": "/nonexistent/run"}, FileNotFoundError, "Trainer.init_from"),
    ],
)
def test_bad_names_fail_before_any_work(overrides, error, match, tmp_path: Path) -> None:
    # the data path does not exist: the check must fail on the name, not on the data
    with pytest.raises(error, match=match):
        jepa_trainer(tmp_path / "missing.h5", tmp_path / "run", **overrides)
    assert not (tmp_path / "run").exists()


def test_cache_over_budget_falls_back_or_fails(jepa_run: Path, tiny_store: Path, tmp_path) -> None:
    def trainer(cache, name: str) -> Trainer:
        return Trainer(
            workflow="reward_predictor",
            init_from=str(jepa_run),
            load=["encoder"],
            modules={"reward_head": "mlp"},
            loss="reward",
            freeze=FreezeModules(["encoder"]),
            cache_latents=cache,
            cache_max_gb=1e-9,
            data=DataConfig(paths=str(tiny_store), batch_size=32),
            epochs=1,
            run_dir=str(tmp_path / name),
            device="cpu",
        )

    with pytest.warns(UserWarning, match="re-encoding every batch"):
        trainer("auto", "auto").fit()
    assert json.loads((tmp_path / "auto" / "run.json").read_text())["cached_latents"] is False
    with pytest.raises(MemoryError, match=r"Trainer\.cache_max_gb"):
        trainer(True, "forced").fit()
    assert json.loads((tmp_path / "forced" / "run.json").read_text())["status"] == "failed"
