"""Two CPU processes under torchrun (gloo): data sharded per rank, gradients averaged, only
rank 0 writes. With the global batch split over ranks, the run matches a one-process run.

The ranks meet on 127.0.0.1 over the loopback interface, so the test needs no network and no
resolvable host name: it runs everywhere and fails (never skips) when DDP breaks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

import wm_data
import wm_models


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loopback_interface() -> str:
    """The loopback interface's name (``lo`` on Linux, ``lo0`` on macOS), for gloo."""
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in names if n.startswith("lo")), "lo")


def test_two_process_ddp_matches_one_process(
    tiny_store: Path, configs_dir: Path, tmp_path: Path, train_workflow
) -> None:
    # an even number of training windows: the per-rank shards then tile each global batch
    # exactly, with no padding sample (DistributedSampler pads odd sizes)
    context = next(
        t for t in (4, 3, 5) if len(wm_data.WindowDataset(tiny_store, context=t)) % 2 == 0
    )
    bindings = [f"DATA = {str(tiny_store)!r}", "Trainer.log_every = 1", f"CONTEXT = {context}"]
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "wm_train.cli",
        "--gin", str(configs_dir / "encoder_decoder.gin"),
        "--gin", str(configs_dir / "scale" / "tiny.gin"),
        "--run-dir", str(run),
    ]  # fmt: skip
    for binding in bindings:
        cmd += ["--bind", binding]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MASTER_ADDR": "127.0.0.1",
        "GLOO_SOCKET_IFNAME": loopback_interface(),
    }
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]

    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_done"] == 3
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [m["step"] for m in lines if "train/loss" in m]
    assert steps == list(range(1, len(steps) + 1)), "a second rank wrote metrics"
    epochs = [m for m in lines if "train/epoch_loss" in m]
    assert epochs[-1]["train/epoch_loss"] < epochs[0]["train/epoch_loss"]

    single = train_workflow("encoder_decoder", tmp_path / "single", *bindings)
    single_steps = [json.loads(x) for x in (single / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == sum("train/loss" in m for m in single_steps)
    a = wm_models.load_checkpoint(run / "checkpoints" / "last.pt")["modules"]
    b = wm_models.load_checkpoint(single / "checkpoints" / "last.pt")["modules"]
    for role in ("encoder", "predictor", "decoder"):
        for key, value in a[role]["state_dict"].items():
            torch.testing.assert_close(
                value, b[role]["state_dict"][key], rtol=1e-3, atol=1e-4, msg=f"{role}.{key}"
            )
