"""Fault injection for checkpoints, in real subprocesses: a writer killed with SIGKILL half-way
through a file, a file-size limit (as on a full disk), torn and foreign files, untrusted files."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import wm_models.checkpoint as ckpt_mod
from wm_models import CheckpointError, load_checkpoint, load_modules
from wm_models.testing import CodeRunningPayload

# Saves a small world over PATH; WM_KILL_IN_SAVE=1 writes half of the file, then SIGKILLs.
WRITER = """
import io, os, signal, sys
import torch
from wm_models import build, save_checkpoint

real_save = torch.save

def save(obj, f, *args, **kwargs):
    if os.environ.get("WM_KILL_IN_SAVE"):
        buffer = io.BytesIO()
        real_save(obj, buffer)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        f.flush()
        os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *args, **kwargs)

torch.save = save
torch.manual_seed(int(sys.argv[2]))
encoder = build("encoder", "conv", frame_shape=(1, 16, 16), context=2, latent_dim=8, channels=(8,))
try:
    save_checkpoint(sys.argv[1], {"encoder": encoder})
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1)
"""


def write_in_subprocess(
    tmp_path: Path, path: Path, seed: int, *, kill: bool = False, preexec=None
) -> subprocess.CompletedProcess:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WM_MODELS_NO_PLUGINS": "1"}
    if kill:
        env["WM_KILL_IN_SAVE"] = "1"
    return subprocess.run(
        [sys.executable, str(script), str(path), str(seed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec,
    )


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    """A complete checkpoint that a failed write must leave as it is."""
    path = tmp_path / "ckpt" / "last.pt"
    result = write_in_subprocess(tmp_path, path, seed=0)
    assert result.returncode == 0, result.stderr
    return path


def test_writer_killed_mid_write_leaves_the_previous_checkpoint(
    previous: Path, tmp_path: Path
) -> None:
    before = previous.read_bytes()
    result = write_in_subprocess(tmp_path, previous, seed=1, kill=True)
    assert result.returncode == -signal.SIGKILL
    assert previous.read_bytes() == before
    torn = [p for p in previous.parent.iterdir() if p != previous]
    assert len(torn) == 1 and torn[0].name.startswith(".last.pt.")  # never named *.pt
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        load_checkpoint(torn[0])
    assert set(load_modules(previous)) == {"encoder"}


def test_file_size_limit_gives_a_clear_error_and_keeps_the_previous_checkpoint(
    previous: Path, tmp_path: Path
) -> None:
    before = previous.read_bytes()
    limit = len(before) // 2

    def small_disk() -> None:  # writes past the limit fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = write_in_subprocess(tmp_path, previous, seed=1, preexec=small_disk)
    assert result.returncode == 1
    err = result.stderr.strip()
    assert err.startswith("CheckpointWriteError: could not write checkpoint"), err
    assert "file-size limit" in err and "unchanged" in err
    assert previous.read_bytes() == before
    assert os.listdir(previous.parent) == ["last.pt"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "not a torch checkpoint"),
        (lambda data: data[:2], "not a zip archive"),
        (lambda data: b"\x89HDF\r\n\x1a\n" + data[8:], "not a zip archive"),
        (lambda data: b"", "not a zip archive"),
    ],
    ids=["truncated", "two-bytes", "hdf5-signature", "empty"],
)
def test_torn_or_foreign_files_are_refused(previous: Path, damage, message: str) -> None:
    previous.write_bytes(damage(previous.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        load_modules(previous)


def test_loading_always_asks_torch_for_weights_only(previous: Path, monkeypatch) -> None:
    seen: list[dict] = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(ckpt_mod.torch, "load", spy)
    load_modules(previous)
    assert seen and all(kwargs.get("weights_only") is True for kwargs in seen)


def test_pickle_in_a_valid_checkpoint_is_refused_not_executed(
    previous: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "EXECUTED"
    payload = torch.load(previous, weights_only=True)
    payload["modules"]["encoder"]["kwargs"]["act"] = CodeRunningPayload(marker)
    torch.save(payload, previous)
    with pytest.raises(CheckpointError, match=r"refused.*weights_only=True"):
        load_modules(previous)
    assert not marker.exists()
