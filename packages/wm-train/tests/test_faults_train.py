"""Fault injection for training: real processes killed with SIGKILL, a file-size limit while a
checkpoint is written, corrupt and untrusted inputs, bad configuration, non-finite numbers.

Each CLI failure must be one line on stderr with a non-zero exit code, no traceback, and must
leave every file of the run as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import wm_models
from wm_models.testing import edit_recorded_kwargs, plant_pickle, truncate
from wm_train import DataConfig, NonFiniteLossError, OptimConfig, ReconstructionLoss, Trainer, cli

CONFIGS = Path(__file__).resolve().parents[3] / "configs"

# Runs wm-train in a fresh interpreter and SIGKILLs itself at a chosen point:
#   WM_KILL_AT_STEP=n  just before the n-th optimizer step of this process (mid-epoch)
#   WM_KILL_IN_SAVE=n  after writing half of the n-th checkpoint file of this process
DRIVER = """
import io, os, signal, sys
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

step_at = int(os.environ.get("WM_KILL_AT_STEP", "0"))
save_at = int(os.environ.get("WM_KILL_IN_SAVE", "0"))
counts = {"step": 0, "save": 0}

def before_step(optimizer, args, kwargs):
    counts["step"] += 1
    if counts["step"] == step_at:
        os.kill(os.getpid(), signal.SIGKILL)

register_optimizer_step_pre_hook(before_step)
real_save = torch.save

def save(obj, f, *args, **kwargs):
    counts["save"] += 1
    if counts["save"] == save_at:
        buffer = io.BytesIO()
        real_save(obj, buffer)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)

torch.save = save
from wm_train.cli import main
sys.exit(main(sys.argv[1:]))
"""

SMALL = ("LATENT_DIM = 8", "encoders.conv.channels = (8, 16)", "Trainer.log_every = 1")


def train_argv(store: Path, run: Path, *bindings: str, workflow: str = "jepa") -> list[str]:
    argv = ["--gin", str(CONFIGS / f"{workflow}.gin"), "--gin", str(CONFIGS / "scale/tiny.gin")]
    small = SMALL if workflow in ("jepa", "encoder_decoder") else SMALL[-1:]  # builds an encoder
    for binding in (f"DATA = {str(store)!r}", *small, *bindings):
        argv += ["--bind", binding]
    return [*argv, "--run-dir", str(run)]


def wm_train(
    args: list[str], tmp_path: Path, *, preexec=None, **kill: int
) -> subprocess.CompletedProcess:
    """``wm-train ARGS`` in a subprocess (optionally killing itself, see DRIVER)."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    env.update({f"WM_KILL_{k.upper()}": str(v) for k, v in kill.items()})
    return subprocess.run(
        [sys.executable, str(driver), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=preexec,
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Hash of every file under ``folder``: proves nothing was overwritten."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("wm-train: error: "), err
    assert "In call to configurable" not in lines[0]  # gin's call context is not the problem
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def train_losses(run: Path) -> list[tuple[int, float]]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["train/loss"]) for r in lines if "train/loss" in r]


def assert_same_checkpoint(a: Path, b: Path) -> None:
    pa, pb = wm_models.load_checkpoint(a), wm_models.load_checkpoint(b)
    assert pa["modules"].keys() == pb["modules"].keys()
    for role in pa["modules"]:
        sa, sb = pa["modules"][role]["state_dict"], pb["modules"][role]["state_dict"]
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{role}.{key} differs"
    for key, state in pa["extra"]["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, pb["extra"]["optimizer"]["state"][key][name]), name
    assert pa["extra"]["global_step"] == pb["extra"]["global_step"]


@pytest.fixture(scope="module")
def base_run(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch JEPA run on the tiny store (copied by tests that damage it)."""
    run = tmp_path_factory.mktemp("base") / "jepa"
    assert cli.main(train_argv(tiny_store, run, "Trainer.epochs = 1")) == 0
    return run


def copy_run(base_run: Path, tmp_path: Path, name: str = "jepa") -> Path:
    return Path(shutil.copytree(base_run, tmp_path / name))


# ---------------------------------------------------------------- SIGKILL and resume


def test_sigkill_mid_epoch_and_mid_checkpoint_write_resumes_to_identical_weights(
    tiny_store: Path, tmp_path: Path
) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = wm_train(train_argv(tiny_store, straight), tmp_path)
    assert done.returncode == 0, done.stderr
    resume = ["--run-dir", str(killed), "--resume"]

    # 1. killed mid-epoch 1, before any checkpoint: --resume starts over in place
    first = wm_train(train_argv(tiny_store, killed), tmp_path, at_step=2)
    assert first.returncode == -signal.SIGKILL
    assert not list((killed / "checkpoints").glob("*.pt"))

    # 2. killed half-way through writing last.pt of epoch 2 (saves: last, best, last)
    second = wm_train(resume, tmp_path, in_save=3)
    assert second.returncode == -signal.SIGKILL
    half_written = list((killed / "checkpoints").glob(".last.pt.*.tmp"))
    assert len(half_written) == 1  # the torn file is there, under a name nothing loads
    with pytest.raises(wm_models.CheckpointError):
        wm_models.load_checkpoint(half_written[0])
    assert wm_models.load_checkpoint(killed / "checkpoints/last.pt")["extra"]["epoch"] == 1

    # 3. killed mid-epoch 3 (epoch 2 is redone from last.pt of epoch 1: 4 steps, then 2 more)
    third = wm_train(resume, tmp_path, at_step=6)
    assert third.returncode == -signal.SIGKILL
    assert wm_models.load_checkpoint(killed / "checkpoints/last.pt")["extra"]["epoch"] == 2

    final = wm_train(resume, tmp_path)
    assert final.returncode == 0, final.stderr
    for name in ("last.pt", "best.pt"):
        assert_same_checkpoint(straight / "checkpoints" / name, killed / "checkpoints" / name)
    assert not list((killed / "checkpoints").glob("*.tmp"))  # torn files are cleaned up
    info = json.loads((killed / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_done"] == 3
    # metrics read as one run: every step once, the same losses as the uninterrupted run
    assert train_losses(killed) == train_losses(straight)


# ---------------------------------------------------------------- disk full


def test_file_size_limit_while_writing_a_checkpoint_keeps_the_previous_one(
    base_run: Path, tmp_path: Path
) -> None:
    run = copy_run(base_run, tmp_path)
    last = run / "checkpoints" / "last.pt"
    before = last.read_bytes()
    limit = len(before) // 2

    def small_disk() -> None:  # writes past the limit fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = wm_train(
        ["--run-dir", str(run), "--resume", "--bind", "Trainer.epochs = 2"],
        tmp_path,
        preexec=small_disk,
    )
    assert_one_line_error(result.returncode, result.stderr, "could not write checkpoint", "last.pt")
    assert last.read_bytes() == before
    assert not list(last.parent.glob("*.tmp"))
    assert wm_models.load_checkpoint(last)["extra"]["epoch"] == 1
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


# ---------------------------------------------------------------- corrupt inputs


def _not_hdf5(tmp_path: Path, store: Path) -> Path:
    path = tmp_path / "notes.h5"
    path.write_text("these are my notes, not a replay store\n")
    return path


def _truncated(tmp_path: Path, store: Path) -> Path:
    path = tmp_path / "truncated.h5"
    path.write_bytes(store.read_bytes()[: store.stat().st_size // 3])
    return path


def _missing(tmp_path: Path, store: Path) -> Path:
    return tmp_path / "no_such_store.h5"


@pytest.mark.parametrize(
    ("make_store", "needle"),
    [(_not_hdf5, "notes.h5"), (_truncated, "truncated.h5"), (_missing, "no_such_store.h5")],
)
def test_bad_store_fails_with_one_line_and_creates_no_run(
    make_store, needle: str, tiny_store: Path, tmp_path: Path, capsys
) -> None:
    store = make_store(tmp_path, tiny_store)
    code = cli.main(train_argv(store, tmp_path / "run"))
    assert_one_line_error(code, capsys.readouterr().err, needle)
    assert not (tmp_path / "run").exists()


def _truncate_checkpoint(path: Path) -> str:
    truncate(path)
    return "not a torch checkpoint"


def _pickle_bearing(path: Path) -> str:
    plant_pickle(path, path.parent / "EXECUTED")
    return "weights_only=True"


def _other_architecture(path: Path) -> str:
    edit_recorded_kwargs(path, "encoder", latent_dim=12)  # weights are for 8
    return "role 'encoder'"


@pytest.mark.parametrize("damage", [_truncate_checkpoint, _pickle_bearing, _other_architecture])
def test_bad_checkpoint_on_resume_is_refused_and_nothing_is_overwritten(
    damage, base_run: Path, tmp_path: Path, capsys
) -> None:
    run = copy_run(base_run, tmp_path)
    needle = damage(run / "checkpoints" / "last.pt")
    before = snapshot(run)
    code = cli.main(["--run-dir", str(run), "--resume", "--bind", "Trainer.epochs = 2"])
    assert_one_line_error(code, capsys.readouterr().err, "last.pt", needle)
    assert snapshot(run) == before
    assert not (run / "checkpoints" / "EXECUTED").exists()


@pytest.mark.parametrize(
    ("binding", "needle"),
    [
        ("ENCODER = 'vit'", "Trainer.modules['encoder'] is 'vit' but"),
        ("Trainer.modules = {'encoder': 'conv', 'predictor': 'mlp', 'decoder': 'conv'}", "decoder"),
    ],
)
def test_resume_with_another_architecture_is_refused(
    binding: str, needle: str, base_run: Path, tmp_path: Path, capsys
) -> None:
    run = copy_run(base_run, tmp_path)
    before = snapshot(run)
    code = cli.main(["--run-dir", str(run), "--resume", "--bind", binding])
    assert_one_line_error(code, capsys.readouterr().err, needle)
    assert snapshot(run) == before


def test_derived_run_from_a_checkpoint_of_another_architecture_is_refused(
    base_run: Path, tiny_store: Path, tmp_path: Path, capsys
) -> None:
    source = copy_run(base_run, tmp_path)
    for name in ("best.pt", "last.pt"):
        _other_architecture(source / "checkpoints" / name)
    before = snapshot(source)
    argv = train_argv(
        tiny_store, source / "decoder", f"INIT_FROM = {str(source)!r}", workflow="jepa_decoder"
    )
    code = cli.main(argv)
    assert_one_line_error(code, capsys.readouterr().err, "best.pt", "role 'encoder'")
    assert snapshot(source) == before


def test_store_with_episodes_shorter_than_the_window(tmp_path: Path, capsys) -> None:
    from wm_data.testing import make_tiny_store

    store = make_tiny_store(tmp_path / "short.h5", episodes=2, max_episode_steps=3, size=16)
    code = cli.main(train_argv(store, tmp_path / "run", "DataConfig.context = 4"))
    assert_one_line_error(
        code, capsys.readouterr().err, "short.h5", "no training window of 5 frames"
    )
    assert not (tmp_path / "run").exists()


def test_empty_store_fails_with_one_line(tmp_path: Path, capsys) -> None:
    from wm_data import ReplayWriter

    store = tmp_path / "empty.h5"
    meta = {"env_id": "ALE/Assault-v5", "obs_shape": [1, 16, 16], "num_actions": 7}
    ReplayWriter(store, {**meta, "has_ram": False}).close()
    before = store.read_bytes()
    code = cli.main(train_argv(store, tmp_path / "run"))
    assert_one_line_error(code, capsys.readouterr().err, "empty.h5", "no episodes")
    assert store.read_bytes() == before
    assert not (tmp_path / "run").exists()


def test_derived_run_on_another_game_is_refused(base_run: Path, tmp_path: Path, capsys) -> None:
    from wm_data.testing import make_tiny_store

    pong = make_tiny_store(
        tmp_path / "pong.h5", env_id="ALE/Pong-v5", episodes=2, max_episode_steps=20, size=16
    )
    source = copy_run(base_run, tmp_path)
    argv = train_argv(
        pong, tmp_path / "decoder", f"INIT_FROM = {str(source)!r}", workflow="jepa_decoder"
    )
    code = cli.main(argv)
    assert_one_line_error(code, capsys.readouterr().err, "ALE/Assault-v5", "ALE/Pong-v5")
    assert not (tmp_path / "decoder").exists()


# ---------------------------------------------------------------- bad configuration


@pytest.mark.parametrize(
    ("bindings", "needles"),
    [
        (["Trainer.epoch = 3"], ["epoch", "Did you mean 'epochs'?"]),
        (["ENCODER = 'convv'"], ["'convv'", "Did you mean 'conv'?"]),
        (
            ["Trainer.freeze = 'modules'", "freeze.modules.names = ['encodr']"],
            ["freeze policy", "'encodr'", "Did you mean 'encoder'"],
        ),
    ],
)
def test_bad_configuration_fails_before_any_work(
    bindings: list[str], needles: list[str], tmp_path: Path, capsys
) -> None:
    # the store does not exist: a failure naming the key proves no data was read first
    code = cli.main(train_argv(tmp_path / "absent.h5", tmp_path / "run", *bindings))
    assert_one_line_error(code, capsys.readouterr().err, *needles)
    assert not (tmp_path / "run").exists()


def test_workflow_loading_a_missing_run_names_the_closest_one(
    base_run: Path, tmp_path: Path, capsys
) -> None:
    copy_run(base_run, tmp_path, "jepa")
    argv = train_argv(
        tmp_path / "absent.h5",
        tmp_path / "decoder",
        f"INIT_FROM = {str(tmp_path / 'jepaa')!r}",
        workflow="jepa_decoder",
    )
    code = cli.main(argv)
    assert_one_line_error(
        code, capsys.readouterr().err, "Trainer.init_from", "Did you mean 'jepa'?"
    )
    assert not (tmp_path / "decoder").exists()


# ---------------------------------------------------------------- numerical faults


class NonFiniteAfter(ReconstructionLoss):
    """Reconstruction loss that, from a given training call on, turns non-finite: the loss
    itself (``inf``) or only its gradients (``grad``: sqrt at 0 has an infinite slope)."""

    def __init__(self, calls: int, fault: str) -> None:
        self.calls, self.fault, self.seen = calls, fault, 0

    def __call__(self, world, batch):
        loss, metrics = super().__call__(world, batch)
        if world.training:
            self.seen += 1
            if self.seen >= self.calls and self.fault == "inf":
                loss = loss * float("inf")
            elif self.seen >= self.calls:
                zero = sum(p.sum() for p in world.decoder.parameters()) * 0.0
                loss = loss + torch.sqrt(zero)  # value unchanged, gradient NaN
        return loss, metrics


@pytest.mark.parametrize(
    ("fault", "grad_clip", "message"),
    [
        ("inf", 1.0, "loss is inf at epoch 2"),
        ("grad", 1.0, "gradient norm is nan at epoch 2"),
        ("grad", None, "gradient norm is nan at epoch 2"),
    ],
)
def test_non_finite_loss_or_gradient_stops_and_keeps_the_last_good_checkpoint(
    fault: str, grad_clip: float | None, message: str, tiny_store: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    trainer = Trainer(
        workflow="encoder_decoder",
        modules={"encoder": "conv", "predictor": "mlp", "decoder": "conv"},
        loss=NonFiniteAfter(calls=6, fault=fault),  # 4 steps per epoch: fault in epoch 2
        latent_dim=8,
        data=DataConfig(paths=str(tiny_store), batch_size=32),
        optim=OptimConfig(grad_clip=grad_clip),
        epochs=3,
        run_dir=str(run),
        device="cpu",
    )
    with pytest.raises(NonFiniteLossError, match=message):
        trainer.fit()
    # no update was applied with the bad gradient: the live weights are still finite
    assert all(torch.isfinite(p).all() for p in trainer.world.parameters())
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and info["epochs_done"] == 1
    last = wm_models.load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["extra"]["epoch"] == 1
    for entry in last["modules"].values():
        assert all(torch.isfinite(t).all() for t in entry["state_dict"].values())


def test_cli_reports_non_finite_loss_in_one_line(tiny_store: Path, tmp_path: Path, capsys) -> None:
    code = cli.main(
        train_argv(tiny_store, tmp_path / "run", "LR = 1e30", "OptimConfig.grad_clip = None")
    )
    err = capsys.readouterr().err
    assert_one_line_error(code, err, "stopping", "last.pt")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"
