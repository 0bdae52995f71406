"""The run directory wm-eval reads, written through ``wm_core.run_format`` (one format, one reader).

<run>/run.json  config.gin  operative_config.gin  metrics.jsonl  tb/
<run>/checkpoints/last.pt  best.pt
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

import wm_models
from wm_core import (
    ModuleRecord,
    RunManifest,
    atomic_write_text,
    read_manifest,
    to_plain,
    write_manifest,
)
from wm_core.run_format import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    METRICS_FILE,
    RUN_FILE,
)

if TYPE_CHECKING:
    from wm_train.train_state import TrainState

__all__ = ["RunDir", "RunDirError", "save_checkpoint"]


class RunDirError(RuntimeError):
    """The run directory cannot be used as asked (exists without --resume, nothing to resume)."""


class RunDir:
    """Owns the files of one run; only the main rank creates one that writes."""

    def __init__(self, path: str | Path, *, tensorboard: bool = True) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINT_DIR
        self.manifest: RunManifest | None = None
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
        return (self.path / RUN_FILE).exists() and not any(self.checkpoints.glob("*.pt"))

    def create(
        self,
        manifest: RunManifest,
        config_text: str | None,
        *,
        resume: bool,
        restart: bool = False,
    ) -> None:
        """Start a fresh run, reopen one for ``--resume``, or ``restart`` one that has no
        checkpoint yet (its config.gin is kept, its metrics are dropped)."""
        if resume or restart:  # files torn by a crash mid-write; nothing ever loads them
            for torn in self.checkpoints.glob(".*.tmp"):
                torn.unlink(missing_ok=True)
        if resume:
            if not self.last.exists():
                raise RunDirError(f"--resume: no checkpoint at {self.last}")
            self.manifest = self._reopen(manifest)
            self.update(status="running")
        else:
            if restart:
                (self.path / METRICS_FILE).unlink(missing_ok=True)
                if (self.path / CONFIG_FILE).exists():
                    config_text = None
            elif (self.path / RUN_FILE).exists():
                raise RunDirError(
                    f"run directory {self.path} already holds a run; pass --resume to continue "
                    "it or --run-dir to start another"
                )
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            self.manifest = dataclasses.replace(manifest, status="running", epochs_done=0)
            self.update()
            if config_text is not None:
                atomic_write_text(self.path / CONFIG_FILE, config_text)
        self._open_tensorboard()

    def _reopen(self, fresh: RunManifest) -> RunManifest:
        """The run's own manifest; records an older version lacks are filled from ``fresh``."""
        if not (self.path / RUN_FILE).exists():
            return fresh
        manifest = read_manifest(self.path)
        for role, record in fresh.modules.items():
            old = manifest.modules.get(role)
            if old is None or old.name is None:
                manifest.modules[role] = record
        manifest.loss = {**fresh.loss, **manifest.loss}
        return manifest

    def _open_tensorboard(self) -> None:
        if not self._tensorboard:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # TensorBoard is optional
            self._tb = None
        else:
            self._tb = SummaryWriter(str(self.path / "tb"))

    def update(self, **fields: Any) -> None:
        """Change fields of run.json (rewritten atomically)."""
        if self.manifest is None:
            raise RunDirError(f"{self.path}: update() before create()")
        for name, value in fields.items():
            if not hasattr(self.manifest, name):
                raise AttributeError(f"run.json has no field {name!r}")
            setattr(self.manifest, name, value)
        write_manifest(self.path, self.manifest)

    def write_text(self, name: str, text: str) -> None:
        atomic_write_text(self.path / name, text)

    def drop_metrics_after(self, step: int) -> None:
        """Keep only metric lines up to ``step`` (a resumed run redoes the steps after it)."""
        path = self.path / METRICS_FILE
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
        atomic_write_text(path, "".join(kept))

    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        """One JSON line per call in metrics.jsonl, and scalars in TensorBoard."""
        record = to_plain({"step": step, **metrics})
        with open(self.path / METRICS_FILE, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def module_record(
    role: str, module: nn.Module, *, trained: bool, source: str, size_keys: tuple[str, ...]
) -> ModuleRecord:
    """run.json's record of one role: registry name and kind, and the sizes wm-eval checks."""
    spec = wm_models.module_spec(module)
    kwargs = spec.get("kwargs") or {}
    sizes = {k: kwargs[k] for k in size_keys if k in kwargs}
    return ModuleRecord(
        name=spec.get("name"), kind=spec.get("kind"), trained=trained, source=source, sizes=sizes
    )


def save_checkpoint(path: Path, modules: Mapping[str, nn.Module], state: TrainState) -> Path:
    """Every role plus the training state, atomically, via wm_models."""
    return wm_models.save_checkpoint(path, dict(modules), extra=state.to_extra())
