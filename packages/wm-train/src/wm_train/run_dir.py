"""The run directory wm-eval reads: run.json, configs, metrics, TensorBoard, checkpoints.

<run>/run.json  config.gin  operative_config.gin  metrics.jsonl  tb/
<run>/checkpoints/last.pt  best.pt
"""

from __future__ import annotations

import json
import math
import os
import random
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import wm_models
from wm_train.registry import did_you_mean


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (exists without --resume, nothing to resume)."""


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opened like any new file (mkstemp would make run files private to the writer).
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _json_value(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class RunDir:
    """Owns the files of one run; only the main rank creates one that writes."""

    def __init__(self, path: str | Path, *, tensorboard: bool = True) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.info: dict[str, Any] = {}
        self._tensorboard = tensorboard
        self._tb: Any = None

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    def started_without_checkpoint(self) -> bool:
        """A run stopped before its first checkpoint (``--resume`` restarts it from scratch)."""
        return (self.path / "run.json").exists() and not any(self.checkpoints.glob("*.pt"))

    def create(
        self,
        info: Mapping[str, Any],
        config_text: str | None,
        *,
        resume: bool,
        restart: bool = False,
    ) -> None:
        """Start a fresh run, reopen one for ``--resume``, or ``restart`` one that has no
        checkpoint yet (its config.gin is kept, its metrics are dropped)."""
        run_json = self.path / "run.json"
        if resume or restart:  # files torn by a crash mid-write; nothing ever loads them
            for torn in self.checkpoints.glob(".*.tmp"):
                torn.unlink(missing_ok=True)
        if resume:
            if not self.last.exists():
                raise RunDirError(f"--resume: no checkpoint at {self.last}")
            self.info = json.loads(run_json.read_text()) if run_json.exists() else dict(info)
            self.update(status="running")
        else:
            if restart:
                (self.path / "metrics.jsonl").unlink(missing_ok=True)
                if (self.path / "config.gin").exists():
                    config_text = None
            elif run_json.exists():
                raise RunDirError(
                    f"run directory {self.path} already holds a run; pass --resume to continue "
                    "it or --run-dir to start another"
                )
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            self.info = {**info, "status": "running", "epochs_done": 0}
            self.update()
            if config_text is not None:
                write_atomic(self.path / "config.gin", config_text)
        if self._tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # TensorBoard is optional
                self._tb = None
            else:
                self._tb = SummaryWriter(str(self.path / "tb"))

    def update(self, **fields: Any) -> None:
        """Change fields of run.json (rewritten atomically)."""
        self.info.update(fields)
        write_atomic(self.path / "run.json", json.dumps(self.info, indent=2) + "\n")

    def write_text(self, name: str, text: str) -> None:
        write_atomic(self.path / name, text)

    def drop_metrics_after(self, step: int) -> None:
        """Keep only metric lines up to ``step`` (a resumed run redoes the steps after it)."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a crash
                continue
            if int(record.get("step", 0)) <= step:
                kept.append(line + "\n")
        write_atomic(path, "".join(kept))

    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        """One JSON line per call in metrics.jsonl, and scalars in TensorBoard."""
        record = {"step": step, **{k: _json_value(v) for k, v in metrics.items()}}
        with open(self.path / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def plain(value: Any) -> Any:
    """Tuples to lists, recursively, so ``extra`` holds only tensors and plain types."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def save_checkpoint(path: Path, modules: Mapping[str, nn.Module], extra: Mapping[str, Any]) -> Path:
    """Every role plus training state, atomically, via wm_models."""
    return wm_models.save_checkpoint(path, dict(modules), extra=plain(dict(extra)))


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) generator states as tensors and plain types."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npst = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["gauss"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def resolve_init_from(init_from: str | Path, which: str = "best") -> tuple[Path, Path]:
    """(run directory, checkpoint file) for ``Trainer.init_from``: a run dir or a .pt file."""
    path = Path(init_from)
    if path.is_file():
        run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        return run, path
    if not path.exists():
        siblings = (
            [p.name for p in path.parent.iterdir() if (p / "run.json").exists()]
            if path.parent.is_dir()
            else []
        )
        hint = f" Runs beside it: {', '.join(sorted(siblings))}." if siblings else ""
        raise FileNotFoundError(
            f"Trainer.init_from: {path} does not exist (train that run first).{hint}"
            + did_you_mean(path.name, siblings)
        )
    for name in (which, "last" if which == "best" else "best"):
        candidate = path / "checkpoints" / f"{name}.pt"
        if candidate.exists():
            return path, candidate
    raise FileNotFoundError(f"Trainer.init_from: no checkpoints/{which}.pt under {path}")
