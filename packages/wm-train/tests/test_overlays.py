"""Every ablation overlay and the seed's pinned setting stack on the world-model workflows, and
each changes exactly what its header says, on the workflows it is meant for."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import gin
import pytest

from wm_core import parse_config
from wm_train import Trainer

WORKFLOWS = ("encoder_decoder", "jepa", "jepa_decoder")
CONFIGS = Path(__file__).resolve().parents[3] / "configs"
ROOT = CONFIGS.parent
ED, JEPA, JD = WORKFLOWS
PIXEL = {"pixel_loss"}
ROLLOUT = {"rollout_steps", "horizon"}

#: overlay -> workflow -> the settings it changes there (anything else must stay as it was)
EXPECTED: dict[str, dict[str, set[str]]] = {
    "ablations/mse.gin": {ED: PIXEL, JEPA: set(), JD: PIXEL},
    "ablations/foreground_l1.gin": {ED: PIXEL, JEPA: set(), JD: PIXEL},
    "ablations/foreground_mse.gin": {ED: PIXEL, JEPA: set(), JD: PIXEL},
    "ablations/lr1e-3.gin": {w: {"lr"} for w in WORKFLOWS},
    "ablations/lr1e-3_const.gin": {w: {"lr", "min_lr_ratio"} for w in WORKFLOWS},
    "ablations/lr3e-4_const.gin": {w: {"min_lr_ratio"} for w in WORKFLOWS},
    "ablations/latent128.gin": {ED: {"latent_dim"}, JEPA: {"latent_dim"}, JD: set()},
    "ablations/latent256.gin": {ED: {"latent_dim"}, JEPA: {"latent_dim"}, JD: set()},
    "ablations/jepa_k3.gin": {ED: set(), JEPA: ROLLOUT, JD: set()},
    "ablations/jepa_k5.gin": {ED: set(), JEPA: ROLLOUT, JD: set()},
    "ablations/ed_k3.gin": {ED: ROLLOUT, JEPA: set(), JD: ROLLOUT},
    "ablations/vicreg.gin": {w: {"var_weight", "cov_weight"} for w in WORKFLOWS},
    "ablations/sigreg.gin": {w: {"sigreg_weight"} for w in WORKFLOWS},
    # the head is built only where the encoder is (the JEPA decoder loads a frozen one)
    "ablations/inverse_dynamics.gin": {
        ED: {"inverse_weight", "roles"},
        JEPA: {"inverse_weight", "roles"},
        JD: {"inverse_weight"},
    },
    "ablations/ema_ramp.gin": {ED: set(), JEPA: {"ema_decay"}, JD: set()},
    "ablations/wide_decoder.gin": {ED: {"decoder_channels"}, JEPA: set(), JD: {"decoder_channels"}},
    "ablations/film_predictor.gin": {ED: {"conditioning"}, JEPA: {"conditioning"}, JD: set()},
    "ablations/updates_x4.gin": {w: {"updates_per_batch"} for w in WORKFLOWS},
    # acts on the reward heads only (test_reward_events_overlay_weighs_the_reward_heads)
    "ablations/reward_events.gin": {w: set() for w in WORKFLOWS},
    "ablations/batch64.gin": {w: {"batch_size"} for w in WORKFLOWS},
    "scale/seed.gin": {w: {"epochs"} for w in WORKFLOWS},  # today's defaults but 20 epochs
    "recipes/recommended.gin": {
        ED: PIXEL | {"latent_dim", "lr"},
        JEPA: ROLLOUT | {"latent_dim", "lr"},
        JD: PIXEL | {"lr"},  # the latent width comes with the loaded JEPA
    },
}


def overlays() -> list[str]:
    found = sorted(str(p.relative_to(CONFIGS)) for p in (CONFIGS / "ablations").glob("*.gin"))
    found += sorted(str(p.relative_to(CONFIGS)) for p in (CONFIGS / "recipes").glob("*.gin"))
    return [*found, "scale/seed.gin"]


def settings(trainer: Trainer) -> dict[str, Any]:
    """What the overlays may change, read from the configured Trainer."""
    loss, reg = trainer.loss, getattr(trainer.loss, "regulariser", None)
    out: dict[str, Any] = {
        "lr": trainer.optim.lr,
        "min_lr_ratio": trainer.optim.min_lr_ratio,
        "warmup_fraction": trainer.optim.warmup_fraction,
        "latent_dim": trainer.latent_dim,
        "batch_size": trainer.data.batch_size,
        "epochs": trainer.epochs,
        "ema_decay": trainer.ema_decay if "target_encoder" in trainer.ema else None,
        "updates_per_batch": trainer.updates_per_batch,
        "horizon": loss.horizon,
        "decoder_channels": None,
        "conditioning": None,
        "roles": tuple(sorted(trainer.roles())),
        "inverse_weight": getattr(getattr(loss, "inverse", None), "weight", None),
    }
    for name in ("pixel_loss", "fg_weight", "threshold", "rollout_steps", "rho"):
        out[name] = getattr(loss, name, None)
    for name in ("var_weight", "cov_weight", "sigreg_weight", "sigreg_directions"):
        out[name] = getattr(reg, name, None)
    if "predictor" in trainer.modules:  # built here, not loaded
        try:
            out["conditioning"] = gin.query_parameter("predictors.mlp.conditioning")
        except ValueError:  # not bound: the predictor's default
            out["conditioning"] = "concat"
    if "decoder" in trainer.modules:
        try:
            out["decoder_channels"] = tuple(gin.query_parameter("decoders.conv.channels"))
        except ValueError:  # not bound: the decoder's default
            out["decoder_channels"] = (256, 128, 64, 32)
    return out


def configured(workflow: str, jepa_run: Path, *extra: str) -> dict[str, Any]:
    files = [CONFIGS / f"{workflow}.gin", CONFIGS / "scale" / "cpu.gin"]
    files += [CONFIGS / e for e in extra]
    parse_config(files, [f"INIT_FROM = {str(jepa_run)!r}"] if workflow == JD else [])
    try:
        return settings(Trainer())
    finally:
        gin.clear_config()


@pytest.fixture(scope="module")
def baselines(jepa_run: Path) -> dict[str, dict[str, Any]]:
    return {w: configured(w, jepa_run) for w in WORKFLOWS}


def test_every_overlay_is_listed_here() -> None:
    assert set(overlays()) == set(EXPECTED)


@pytest.mark.parametrize("overlay", sorted(EXPECTED))
def test_overlay_changes_what_it_says_on_each_workflow(
    overlay: str, baselines: dict[str, dict[str, Any]], jepa_run: Path
) -> None:
    for workflow in WORKFLOWS:
        values = configured(workflow, jepa_run, overlay)
        changed = {k for k, v in values.items() if v != baselines[workflow][k]}
        assert changed == EXPECTED[overlay][workflow], (overlay, workflow, values)


def test_seed_overlay_pins_the_committed_comparison(jepa_run: Path) -> None:
    ed = configured(ED, jepa_run, "scale/seed.gin")
    assert ed["lr"] == 3e-4 and ed["min_lr_ratio"] == 0.0 and ed["warmup_fraction"] == 0.05
    assert (ed["pixel_loss"], ed["rollout_steps"], ed["latent_dim"], ed["batch_size"]) == (
        "l1",
        1,
        64,
        128,
    )
    assert ed["decoder_channels"] == (256, 128, 64, 32) and ed["epochs"] == 20
    jepa = configured(JEPA, jepa_run, "scale/seed.gin")
    assert (jepa["ema_decay"], jepa["rollout_steps"], jepa["sigreg_weight"]) == (0.999, 1, 0.0)
    # later overlays still win over seed.gin's pinned values when stacked after it
    assert configured(ED, jepa_run, "scale/seed.gin", "ablations/mse.gin")["pixel_loss"] == "mse"


@pytest.mark.parametrize("workflow", ["reward_predictor", "dynamics_reward_predictor"])
def test_reward_events_overlay_weighs_the_reward_heads(workflow: str, jepa_run: Path) -> None:
    for extra, weight in (((), 1.0), (("ablations/reward_events.gin",), 40.0)):
        files = [CONFIGS / f"{workflow}.gin", CONFIGS / "scale" / "cpu.gin"]
        parse_config([*files, *(CONFIGS / e for e in extra)], [f"INIT_FROM = {str(jepa_run)!r}"])
        try:
            assert Trainer().loss.event_weight == weight
        finally:
            gin.clear_config()


def test_check_configs_parses_every_overlay_on_every_workflow(tmp_path: Path) -> None:
    """tools/check_configs.py on the world-model workflows and their overlays (copied alone, so
    other configs under configs/ do not decide this test)."""
    for name in WORKFLOWS:
        shutil.copy(CONFIGS / f"{name}.gin", tmp_path)
    for folder in ("scale", "ablations", "recipes"):
        if (CONFIGS / folder).is_dir():
            shutil.copytree(CONFIGS / folder, tmp_path / folder)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_configs.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   jepa_decoder.gin + ablations/ed_k3.gin" in done.stdout
    assert "ok   encoder_decoder.gin + scale/seed.gin" in done.stdout
