"""wm-train's command line: repeatable --gin/--bind, listing, printing, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import gin
import pytest

from wm_train import cli

MY_CONFIGS = [
    "encoder_decoder.gin",
    "jepa.gin",
    "jepa_decoder.gin",
    "reward_predictor.gin",
    "dynamics_reward_predictor.gin",
    "scale/tiny.gin",
    "scale/cpu.gin",
    "scale/gpu.gin",
]


@pytest.mark.parametrize("name", MY_CONFIGS)
def test_each_config_parses_alone(name: str, configs_dir: Path) -> None:
    gin.clear_config(clear_constants=True)
    gin.parse_config_files_and_bindings([str(configs_dir / name)], None, skip_unknown=False)


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ("ENCODR = 'vit'", "Did you mean 'ENCODER'?"),
        ("Trainer.epoch = 3", "Did you mean 'epochs'?"),
        ("Traner.epochs = 3", "Did you mean 'Trainer'?"),
        ("losses.jepa.rollout_step = 2", "Did you mean 'rollout_steps'?"),
        ("ENCODER = 'vt'", "Did you mean 'vit'?"),
        ("Trainer.freeze = 'modulez'", "Did you mean 'modules'?"),
    ],
)
def test_bad_bindings_name_the_binding_and_suggest(binding, message, configs_dir, tmp_path, capsys):
    code = cli.main(
        [
            "--gin",
            str(configs_dir / "jepa.gin"),
            "--bind",
            binding,
            "--run-dir",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert not (tmp_path / "r").exists()


def test_later_gin_and_bind_win(configs_dir: Path, capsys) -> None:
    argv = [
        "--gin",
        str(configs_dir / "jepa.gin"),
        "--gin",
        str(configs_dir / "scale" / "tiny.gin"),
    ]
    assert cli.main([*argv, "--bind", "ENCODER = 'vit'", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "ENCODER = 'vit'" in out
    assert "LATENT_DIM = 16" in out  # tiny.gin's LATENT_DIM overrides jepa.gin's
    assert (
        cli.main([*argv, "--bind", "LATENT_DIM = 8", "--bind", "LATENT_DIM = 12", "--print-config"])
        == 0
    )
    assert "LATENT_DIM = 12" in capsys.readouterr().out


def test_list(capsys) -> None:
    assert cli.main(["--list", "encoders"]) == 0
    assert {"conv", "vit"} <= set(capsys.readouterr().out.split())
    assert cli.main(["--list", "losses"]) == 0
    assert {"jepa", "reconstruction", "reward"} <= set(capsys.readouterr().out.split())
    assert cli.main(["--list", "encodrs"]) == 2
    assert "Did you mean 'encoders'" in capsys.readouterr().err


def test_resume_from_run_dir_alone(train_workflow, tmp_path: Path, capsys) -> None:
    run = train_workflow("encoder_decoder", tmp_path / "ed", "Trainer.epochs = 1", "LATENT_DIM = 8")
    text = (run / "config.gin").read_text()
    assert text.startswith("# wm-train --gin ") and "\nTrainer.epochs = 1\n" in text
    gin.clear_config()
    assert cli.main(["--run-dir", str(run), "--resume", "--bind", "Trainer.epochs = 2"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["epochs_done"] == 2 and info["status"] == "finished"
    gin.clear_config()
    assert cli.main(["--run-dir", str(tmp_path / "none"), "--resume"]) == 2
    assert "config.gin" in capsys.readouterr().err
