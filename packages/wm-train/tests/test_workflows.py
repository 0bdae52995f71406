"""Each of the five workflows, run through wm-train on a tiny real store, reduces its loss;
derived runs load the JEPA (or encoder-decoder) run and leave the loaded modules untouched."""

from __future__ import annotations

import json
from pathlib import Path

import gin
import pytest
import torch

import wm_models


def epoch_losses(metrics, run_dir: Path) -> list[float]:
    return [m["train/epoch_loss"] for m in metrics(run_dir) if "train/epoch_loss" in m]


def assert_learns(metrics, run_dir: Path) -> None:
    losses = epoch_losses(metrics, run_dir)
    assert len(losses) == 3
    assert losses[-1] < losses[0], f"training loss did not go down: {losses}"


def state(path: Path, role: str) -> dict[str, torch.Tensor]:
    return wm_models.load_checkpoint(path)["modules"][role]["state_dict"]


def test_jepa_run_layout_and_learning(jepa_run: Path, metrics) -> None:
    assert_learns(metrics, jepa_run)
    info = json.loads((jepa_run / "run.json").read_text())
    assert info["workflow"] == "jepa"
    assert info["status"] == "finished" and info["epochs_done"] == 3
    assert info["init_from"] is None and info["loss"] == {"name": "jepa", "reward_source": None}
    assert set(info["modules"]) == {"encoder", "predictor", "target_encoder"}
    assert all(m["source"] == "built" for m in info["modules"].values())
    # every role names its registry entry, kind and sizes, so wm-eval needs no config
    assert info["modules"]["encoder"]["name"] == "conv"
    assert info["modules"]["target_encoder"]["kind"] == "encoder"
    assert info["modules"]["predictor"]["kind"] == "predictor"
    sizes = info["modules"]["encoder"]["sizes"]
    assert sizes["latent_dim"] == 16 and sizes["context"] == 4 and len(sizes["frame_shape"]) == 3
    assert info["modules"]["predictor"]["sizes"]["num_actions"] >= 2
    assert info["data"]["context"] == 4 and info["data"]["horizon"] == 1
    payload = wm_models.load_checkpoint(jepa_run / "checkpoints" / "last.pt")
    assert set(payload["modules"]) == {"encoder", "predictor", "target_encoder"}
    assert payload["modules"]["encoder"]["kwargs"]["latent_dim"] == 16
    for name in ("optimizer", "scheduler", "ema", "rng", "data"):
        assert name in payload["extra"]
    assert (jepa_run / "checkpoints" / "best.pt").exists()
    assert "jepa.rollout_steps" in (jepa_run / "operative_config.gin").read_text()
    # the config as given parses alone and reproduces the run's settings
    gin.parse_config_files_and_bindings([str(jepa_run / "config.gin")], None)
    assert gin.query_parameter("Trainer.workflow") == "jepa"
    # validation logs the do-nothing baseline and collapse diagnostics beside the loss
    val = [m for m in metrics(jepa_run) if "val/loss" in m][-1]
    assert {"val/baseline_loss", "val/collapse/effective_rank", "val/collapse/std_mean"} <= set(val)
    # the EMA target follows the encoder without equalling it
    enc, tgt = (
        state(jepa_run / "checkpoints" / "last.pt", "encoder"),
        state(jepa_run / "checkpoints" / "last.pt", "target_encoder"),
    )
    assert any(not torch.equal(enc[k], tgt[k]) for k in enc)


def test_encoder_decoder_learns(encoder_decoder_run: Path, metrics) -> None:
    assert_learns(metrics, encoder_decoder_run)
    info = json.loads((encoder_decoder_run / "run.json").read_text())
    assert set(info["modules"]) == {"encoder", "predictor", "decoder"}
    val = [m for m in metrics(encoder_decoder_run) if "val/loss" in m][-1]
    assert "val/baseline_loss" in val


@pytest.mark.parametrize(
    ("workflow", "loaded", "reward_source"),
    [
        ("jepa_decoder", {"encoder", "predictor"}, None),
        ("reward_predictor", {"encoder"}, "true"),
        ("dynamics_reward_predictor", {"encoder", "predictor"}, "predicted"),
    ],
)
def test_derived_workflows_learn_and_keep_loaded_modules(
    workflow, loaded, reward_source, jepa_run: Path, train_workflow, metrics, tmp_path: Path
) -> None:
    run = train_workflow(workflow, tmp_path / workflow, f"INIT_FROM = {str(jepa_run)!r}")
    assert_learns(metrics, run)
    info = json.loads((run / "run.json").read_text())
    assert info["workflow"] == workflow
    assert info["init_from"] == str(jepa_run.resolve())
    assert info["loss"]["reward_source"] == reward_source
    assert info["cached_latents"] is True  # every module feeding the head is frozen
    for role in loaded:
        record = info["modules"][role]
        assert record["trained"] is False and record["source"] == str(jepa_run.resolve())
        assert record["sizes"]["latent_dim"] == 16  # the loaded module keeps its own size
        before = state(jepa_run / "checkpoints" / "best.pt", role)
        after = state(run / "checkpoints" / "last.pt", role)
        assert before.keys() == after.keys()
        assert all(torch.equal(before[k], after[k]) for k in before), f"{role} changed"
    payload = wm_models.load_checkpoint(run / "checkpoints" / "last.pt")
    # the loaded encoder keeps its own architecture (latent 16 from the JEPA run)
    assert payload["modules"]["encoder"]["kwargs"]["latent_dim"] == 16


def test_reward_predictor_on_the_encoder_decoder_run(
    encoder_decoder_run: Path, train_workflow, metrics, tmp_path: Path
) -> None:
    run = train_workflow(
        "reward_predictor", tmp_path / "rp", f"INIT_FROM = {str(encoder_decoder_run)!r}"
    )
    assert_learns(metrics, run)
    info = json.loads((run / "run.json").read_text())
    assert info["init_from"] == str(encoder_decoder_run.resolve())


def test_derived_run_defaults_inside_its_source(jepa_run: Path, train_workflow, tmp_path) -> None:
    """'{init_from}/reward_predictor' puts the run where wm-eval looks for derived runs."""
    import shutil

    source = tmp_path / "jepa"
    shutil.copytree(jepa_run, source)
    gin.clear_config()
    from wm_train import cli

    data = json.loads((jepa_run / "run.json").read_text())["data"]["paths"][0]
    code = cli.main(
        [
            "--gin", str(Path(__file__).resolve().parents[3] / "configs" / "reward_predictor.gin"),
            "--bind", f"INIT_FROM = {str(source)!r}",
            "--bind", f"DATA = {data!r}",
            "--bind", "Trainer.epochs = 1",
            "--bind", "DataConfig.batch_size = 64",
        ]
    )  # fmt: skip
    assert code == 0
    assert (
        json.loads((source / "reward_predictor" / "run.json").read_text())["status"] == "finished"
    )
