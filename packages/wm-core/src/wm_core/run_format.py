"""The run directory: one format that wm-train writes and wm-eval reads through the same code.

::

    <run>/run.json              the manifest below (format "wm-run", versioned)
    <run>/config.gin            the config as given (files and bindings), for --resume
    <run>/operative_config.gin  every bound value, written after the first step
    <run>/metrics.jsonl         one JSON object per logged step
    <run>/tb/                   TensorBoard events (when installed)
    <run>/checkpoints/{last,best}.pt

A derived run (a decoder on a frozen JEPA, a reward head on a frozen encoder) records the run it
loaded its modules from in ``init_from``; ``resolve_init_from`` is the one rule that turns that
record (or a user's ``Trainer.init_from``) into a run directory and a checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wm_core.io import atomic_write_text, to_plain
from wm_core.names import did_you_mean

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "FORMAT",
    "METRICS_FILE",
    "OPERATIVE_CONFIG_FILE",
    "RUN_FILE",
    "STATUSES",
    "VERSION",
    "ModuleRecord",
    "RunFormatError",
    "RunManifest",
    "checkpoint_path",
    "is_run_dir",
    "read_manifest",
    "resolve_init_from",
    "write_manifest",
]

FORMAT = "wm-run"
VERSION = 1
RUN_FILE = "run.json"
CONFIG_FILE = "config.gin"
OPERATIVE_CONFIG_FILE = "operative_config.gin"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINTS = ("best", "last")
STATUSES = ("running", "finished", "failed")


class RunFormatError(ValueError):
    """A run directory or its manifest is missing, unreadable, malformed or of a newer version."""


@dataclass
class ModuleRecord:
    """One role of a run: which registry entry, whether it trained, where it came from."""

    name: str | None = None  # registry name ('conv', 'mlp', ...); None in version-0 manifests
    kind: str | None = None  # 'encoder', 'predictor', 'decoder', 'reward_head'
    trained: bool = False
    source: str = "built"  # 'built', or the run directory it was loaded from
    sizes: dict[str, Any] = field(default_factory=dict)  # latent_dim, context, frame_shape...


@dataclass
class RunManifest:
    """``run.json``: what a run is, what it trained on and how far it got."""

    workflow: str
    status: str = "running"
    init_from: str | None = None
    modules: dict[str, ModuleRecord] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # paths, env_id, context, horizon, split
    loss: dict[str, Any] = field(default_factory=dict)  # registry name, reward_source...
    latent_dim: int | None = None
    epochs_done: int = 0
    cached_latents: bool = False
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields this version does not know

    @property
    def reward_source(self) -> str | None:
        """Which next latent a reward head reads: 'true', 'predicted' or None (no reward head)."""
        return self.loss.get("reward_source")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        for f in dataclasses.fields(self):
            if f.name != "extra":
                out[f.name] = getattr(self, f.name)
        out["modules"] = {role: dataclasses.asdict(m) for role, m in self.modules.items()}
        return to_plain({**self.extra, **out})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str = RUN_FILE) -> RunManifest:
        """Validate and read a manifest; version-0 files (no ``format`` field) still load."""
        if not isinstance(raw, Mapping):
            raise RunFormatError(f"{where} must hold a JSON object, got {type(raw).__name__}")
        raw = dict(raw)
        fmt, version = raw.pop("format", FORMAT), raw.pop("version", 0)
        if fmt != FORMAT:
            raise RunFormatError(f"{where}: format is {fmt!r}, not {FORMAT!r}")
        if not isinstance(version, int) or version > VERSION:
            raise RunFormatError(
                f"{where}: run format version {version!r} is newer than this wm-core reads "
                f"({VERSION}); upgrade the packages"
            )
        if not isinstance(raw.get("workflow"), str):
            raise RunFormatError(f"{where} has no 'workflow' field")
        if "reward_source" in raw:  # version 0 kept it at the top level
            raw.setdefault("loss", {})
            raw["loss"] = {**raw["loss"], "reward_source": raw.pop("reward_source")}
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: raw.pop(k) for k in list(raw) if k in names}
        if known.get("status", "running") not in STATUSES:
            raise RunFormatError(f"{where}: status {known['status']!r} is not one of {STATUSES}")
        modules = known.pop("modules", None) or {}
        if not isinstance(modules, Mapping):
            raise RunFormatError(f"{where}: 'modules' must map roles to records")
        records = {}
        record_fields = {f.name for f in dataclasses.fields(ModuleRecord)}
        for role, rec in modules.items():
            if not isinstance(rec, Mapping):
                raise RunFormatError(f"{where}: modules[{role!r}] must be an object")
            records[role] = ModuleRecord(**{k: v for k, v in rec.items() if k in record_fields})
        return cls(**known, modules=records, extra=raw)


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / RUN_FILE).is_file()


def read_manifest(run_dir: str | Path) -> RunManifest:
    """``<run_dir>/run.json`` as a ``RunManifest``; ``RunFormatError`` names what is wrong."""
    file = Path(run_dir) / RUN_FILE
    if not file.is_file():
        raise RunFormatError(f"{run_dir} has no {RUN_FILE} (is it a wm-train run directory?)")
    try:
        raw = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFormatError(f"cannot read {file}: {exc}") from exc
    return RunManifest.from_dict(raw, where=str(file))


def write_manifest(run_dir: str | Path, manifest: RunManifest) -> Path:
    """Write ``run.json`` atomically."""
    text = json.dumps(manifest.to_dict(), indent=2) + "\n"
    return atomic_write_text(Path(run_dir) / RUN_FILE, text)


def checkpoint_path(run_dir: str | Path, which: str = "best") -> Path | None:
    """``checkpoints/<which>.pt``, else the other of best/last, else None."""
    if which not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {which!r}")
    for name in (which, *(c for c in CHECKPOINTS if c != which)):
        candidate = Path(run_dir) / CHECKPOINT_DIR / f"{name}.pt"
        if candidate.is_file():
            return candidate
    return None


def _run_of_file(path: Path) -> Path:
    run = path.parent.parent if path.parent.name == CHECKPOINT_DIR else path.parent
    return run


def _candidates(raw: Path, base: Path | None) -> list[Path]:
    """Where a relative path may point: the recording run and its parents first (a result
    folder moved elsewhere keeps its runs' links), then the working directory."""
    if raw.is_absolute():
        return [raw]
    bases = ([base, *base.parents] if base is not None else []) + [Path.cwd()]
    return [b / raw for b in bases]


def resolve_init_from(
    init_from: str | Path,
    which: str = "best",
    *,
    base: str | Path | None = None,
    what: str = "Trainer.init_from",
) -> tuple[Path, Path]:
    """(run directory, checkpoint file) for a run directory or a checkpoint file.

    A relative path is tried against ``base`` (the run that recorded it) and each of its
    parents, then against the working directory. A missing run fails with the runs beside it.
    """
    raw = Path(init_from)
    base_path = Path(base) if base is not None else None
    for candidate in _candidates(raw, base_path):
        if candidate.is_file():
            return _run_of_file(candidate).resolve(), candidate.resolve()
        if candidate.is_dir() and (is_run_dir(candidate) or base_path is None):
            checkpoint = checkpoint_path(candidate, which)
            if checkpoint is None:
                raise FileNotFoundError(
                    f"{what}: no {CHECKPOINT_DIR}/{which}.pt under {candidate} (has that run "
                    "finished an epoch?)"
                )
            return candidate.resolve(), checkpoint.resolve()
    parent = raw.parent if raw.is_absolute() else Path.cwd() / raw.parent
    siblings = sorted(p.name for p in parent.iterdir() if is_run_dir(p)) if parent.is_dir() else []
    hint = f" Runs beside it: {', '.join(siblings)}." if siblings else ""
    raise FileNotFoundError(
        f"{what}: {init_from} does not exist (train that run first).{hint}"
        + did_you_mean(raw.name, siblings)
    )
