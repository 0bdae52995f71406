"""An outside package adds a loss and a freeze policy through the ``wm_train.plugins`` group."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from wm_train import cli
from wm_train.freeze import FREEZE_POLICIES
from wm_train.losses import LOSSES

PLUGIN_DIR = "tests/plugins/wm-train-example-plugin"


@pytest.fixture(scope="module", autouse=True)
def plugin_installed() -> None:
    eps = importlib.metadata.entry_points(group="wm_train.plugins")
    if "example" not in {ep.name for ep in eps}:
        pytest.fail(
            f"the example plugin is not installed: pip install {PLUGIN_DIR} "
            "(nox installs every tests/plugins/*/ package)"
        )


def test_plugin_parts_are_listed(capsys) -> None:
    assert "example_latent_mse" in LOSSES.names()
    assert "example_frozen_encoder" in FREEZE_POLICIES.names()
    assert cli.main(["--list", "losses"]) == 0
    assert "example_latent_mse" in capsys.readouterr().out.split()


def test_plugin_loss_and_freeze_policy_train_from_a_gin_binding(
    train_workflow, tmp_path: Path, metrics
) -> None:
    run = train_workflow(
        "encoder_decoder",
        tmp_path / "plugin",
        "Trainer.loss = 'example_latent_mse'",
        "Trainer.freeze = 'example_frozen_encoder'",
        "Trainer.modules = {'encoder': 'conv', 'predictor': 'mlp'}",
        "Trainer.epochs = 2",
    )
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["modules"]["encoder"]["trained"] is False
    assert manifest["modules"]["predictor"]["trained"] is True
    losses = [r["train/latent_mse"] for r in metrics(run) if "train/latent_mse" in r]
    assert len(losses) >= 2 and losses[-1] < losses[0]
