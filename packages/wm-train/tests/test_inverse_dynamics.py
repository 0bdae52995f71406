"""The inverse-dynamics auxiliary loss: its head is built only beside a new encoder, it trains
(the action becomes readable from the latent transition), resumes exactly, and its setting is
checked like every other loss setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import wm_models
from wm_train import Trainer
from wm_train.inverse_dynamics import ROLE, InverseDynamics
from wm_train.losses import JepaLoss, ReconstructionLoss
from wm_train.testing import assert_same_training, jepa_trainer
from wm_train.world import World


def test_term_is_off_by_default_and_names_a_bad_weight() -> None:
    assert not InverseDynamics("losses.jepa").active
    assert JepaLoss().aux_modules == {} and ReconstructionLoss().aux_modules == {}
    assert JepaLoss(inverse_weight=0.5).aux_modules == {ROLE: "mlp"}
    with pytest.raises(ValueError, match=r"losses\.reconstruction\.inverse_weight"):
        ReconstructionLoss(inverse_weight=-1.0)


def test_cross_entropy_falls_when_the_action_is_in_the_transition() -> None:
    """A head fit on transitions whose difference encodes the action learns to name it."""
    torch.manual_seed(0)
    head = wm_models.build("inverse_head", "mlp", latent_dim=6, num_actions=3, hidden_dim=32)
    world = World({ROLE: head})
    term = InverseDynamics("losses.jepa", weight=1.0)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    actions = torch.randint(0, 3, (256,))
    z = torch.randn(256, 6)
    z_next = z + torch.nn.functional.one_hot(actions, 6).float()
    first = None
    for _ in range(100):
        loss, metrics = term.add_to(torch.zeros(()), world, z, z_next, actions)
        first = float(metrics["inverse/ce"]) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    world.eval()
    _, metrics = term.add_to(torch.zeros(()), world, z, z_next, actions)
    assert float(metrics["inverse/ce"]) < 0.2 * first
    assert float(metrics["inverse/accuracy"]) > 0.95
    assert 0 < float(metrics["inverse/majority_accuracy"]) < 0.5


def test_jepa_with_inverse_dynamics_trains_and_resumes_bit_exactly(
    tiny_store: Path, tmp_path: Path, metrics
) -> None:
    def trainer(run: Path) -> Trainer:
        return jepa_trainer(tiny_store, run, loss=JepaLoss(inverse_weight=1.0))

    straight = trainer(tmp_path / "straight")
    assert straight.modules == {"encoder": "conv", "predictor": "mlp", ROLE: "mlp"}
    straight.fit()
    trainer(tmp_path / "split").fit(max_epochs=1)
    trainer(tmp_path / "split").fit(resume=True)
    assert_same_training(
        tmp_path / "straight", tmp_path / "split", ("encoder", "predictor", "target_encoder", ROLE)
    )
    records = metrics(tmp_path / "straight")
    assert any("train/inverse/ce" in r for r in records)
    val = [r for r in records if "val/inverse/accuracy" in r]
    assert len(val) == 2 and val[-1]["val/loss"] < val[0]["val/loss"]  # latent L1 + CE
    assert 0 < val[-1]["val/inverse/majority_accuracy"] <= 1


def test_head_is_not_built_where_the_encoder_is_loaded(
    tiny_store: Path, jepa_run: Path, tmp_path: Path
) -> None:
    """A JEPA decoder probe loads a frozen encoder: there is no representation to shape."""
    trainer = Trainer(
        workflow="jepa_decoder",
        modules={"decoder": "conv"},
        init_from=str(jepa_run),
        load=("encoder", "predictor"),
        freeze="none",  # the role set alone decides: nothing here builds an encoder
        loss=ReconstructionLoss(inverse_weight=1.0),
        run_dir=str(tmp_path / "jd"),
    )
    assert ROLE not in trainer.modules
