"""Self-describing checkpoints: every module's kind, registry name, constructor arguments, weights.

``load_module(path, "encoder")`` rebuilds a module with no config at hand. Payloads hold only
tensors and plain python values, so they load with ``torch.load(weights_only=True)`` and a file
from an untrusted source cannot run code. Files are written atomically: a crash mid-write leaves
the previous checkpoint intact.

Payload::

    {"format": "wm-checkpoint", "version": 1,
     "modules": {role: {"kind", "name", "kwargs", "state_dict"}},
     "extra": {...},                      # tensors and plain values, e.g. optimizer state
     "producer": {"wm_models": ..., "torch": ...}}
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parameter import UninitializedTensorMixin

from wm_core.io import atomic_write
from wm_models.registry import (
    KINDS,
    UnknownModelError,
    _unwrap,
    get_registry,
    module_spec,
)

__all__ = [
    "FORMAT",
    "ROLES",
    "VERSION",
    "CheckpointError",
    "CheckpointWriteError",
    "load_checkpoint",
    "load_module",
    "load_modules",
    "save_checkpoint",
]

FORMAT = "wm-checkpoint"
VERSION = 1
ROLES = ("encoder", "target_encoder", "predictor", "decoder", "reward_head", "inverse_head")


class CheckpointError(Exception):
    """A file that is not a readable wm checkpoint, or one that cannot rebuild a module."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (disk full, file-size limit); the old file is kept."""


def _check_plain(value: Any, where: str) -> None:
    """Raise CheckpointError unless ``value`` is tensors and plain python values only."""
    if value is None or type(value) in (bool, int, float, str) or isinstance(value, torch.Tensor):
        return  # exact types: a str or int subclass would be refused by weights_only loading
    if type(value) in (list, tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if type(value) is dict:
        for k, v in value.items():
            if type(k) not in (str, int, float, bool) and k is not None:
                raise CheckpointError(f"{where} has a key of type {type(k).__name__}: {k!r}")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise CheckpointError(
        f"{where} is a {type(value).__name__}; checkpoints hold only tensors and plain python "
        "values (dict, list, tuple, str, int, float, bool, None)"
    )


def save_checkpoint(
    path: str | os.PathLike[str],
    modules: Mapping[str, nn.Module],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``modules`` (role -> module made by ``build``) and ``extra`` to ``path`` atomically.

    The file is written to a temporary sibling, flushed to disk, then renamed over ``path``.
    """
    path = Path(path)
    if not modules:
        raise CheckpointError("modules is empty: a checkpoint needs at least one role")
    entries: dict[str, dict[str, Any]] = {}
    for role, module in modules.items():
        if not isinstance(role, str) or not role:
            raise CheckpointError(f"role names must be non-empty strings, got {role!r}")
        if not isinstance(module, nn.Module):
            raise CheckpointError(f"modules[{role!r}] is a {type(module).__name__}, not a module")
        try:
            spec = module_spec(module)
        except ValueError as exc:
            raise CheckpointError(f"modules[{role!r}]: {exc}") from None
        state = {k: v.detach().cpu() for k, v in _unwrap(module).state_dict().items()}
        entries[role] = {**spec, "state_dict": state}
    extra_dict = dict(extra or {})
    _check_plain(extra_dict, "extra")
    from wm_models import __version__

    payload = {
        "format": FORMAT,
        "version": VERSION,
        "modules": entries,
        "extra": extra_dict,
        "producer": {"wm_models": str(__version__), "torch": str(torch.__version__)},
    }
    try:
        atomic_write(path, lambda handle: torch.save(payload, handle))
    except (OSError, RuntimeError) as exc:
        # Disk full or a file-size limit: torch reports a short write as a RuntimeError.
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointWriteError(
            f"could not write checkpoint {path} ({type(exc).__name__}: {cause}); is the disk "
            "full or a file-size limit reached? Any previous file at that path is unchanged"
        ) from exc
    return path


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read and validate a checkpoint; raises CheckpointError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "missing"
        raise CheckpointError(f"{path} is not a checkpoint file ({what})")
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head != b"PK\x03\x04":  # torch.save writes a zip archive; anything else is not ours
        raise CheckpointError(
            f"{path} is not a torch checkpoint: it is not a zip archive as torch.save writes "
            f"(it starts with {head!r})"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [
            ln.strip()
            for ln in str(exc).splitlines()
            if "GLOBAL" in ln or "WeightsUnpickler" in ln or "Unsupported" in ln
        ]
        first = lines[0] if lines else f"{type(exc).__name__}: {str(exc)[:200]}"
        raise CheckpointError(
            f"{path} was refused: it is not a wm checkpoint, or it holds python objects other "
            f"than tensors and plain values, which are not loaded (weights_only=True): {first}"
        ) from None
    except Exception as exc:
        raise CheckpointError(
            f"{path} is not a torch checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a wm checkpoint: format is {found!r}, expected {FORMAT!r}"
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')!r}; this wm-models reads "
            f"version {VERSION}"
        )
    modules = payload.get("modules")
    if not isinstance(modules, dict) or not modules:
        raise CheckpointError(f"{path}: field 'modules' must be a non-empty dict of roles")
    for role, entry in modules.items():
        where = f"{path}: modules[{role!r}]"
        if not isinstance(entry, dict):
            raise CheckpointError(f"{where} must be a dict")
        for key, typ in (("kind", str), ("name", str), ("kwargs", dict), ("state_dict", dict)):
            if not isinstance(entry.get(key), typ):
                raise CheckpointError(f"{where} field {key!r} must be a {typ.__name__}")
        if entry["kind"] not in KINDS:
            raise CheckpointError(
                f"{where} has unknown kind {entry['kind']!r}; kinds: {', '.join(KINDS)}"
            )
        for key, value in entry["state_dict"].items():
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{where} state_dict[{key!r}] is not a tensor")
    if not isinstance(payload.setdefault("extra", {}), dict):
        raise CheckpointError(f"{path}: field 'extra' must be a dict")
    return payload


def recorded_defaults(target: Any) -> dict[str, Any]:
    """Values for arguments a model gained after some checkpoints were written.

    A model class may set ``legacy_defaults = {"arg": value}``: a checkpoint whose recorded
    kwargs lack ``arg`` was built before the argument existed, so it rebuilds with ``value``
    (the old behaviour) rather than with today's default.
    """
    return dict(getattr(target, "legacy_defaults", {}))


def _rebuild(path: Path, role: str, entry: Mapping[str, Any]) -> nn.Module:
    kind, name = entry["kind"], entry["name"]
    try:
        registry = get_registry(kind)
        kwargs = {**recorded_defaults(registry.get(name)), **entry["kwargs"]}
        module = registry.build(name, use_gin=False, **kwargs)
    except UnknownModelError as exc:
        raise CheckpointError(
            f"{path}: role {role!r} needs {kind} {name!r}, which is not registered. {exc}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: role {role!r} ({kind} {name!r}) cannot be rebuilt from its recorded "
            f"arguments {entry['kwargs']}: {exc}"
        ) from None
    expected = module.state_dict()
    saved = entry["state_dict"]
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: role {role!r} ({kind} {name!r}) weights do not match the architecture: "
            f"missing {missing or 'none'}, unexpected {unexpected or 'none'}"
        )
    for key, tensor in expected.items():
        if isinstance(tensor, UninitializedTensorMixin):
            continue  # a lazy module's weight takes its shape from the checkpoint on loading
        if tuple(saved[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: role {role!r} ({kind} {name!r}) tensor {key!r} has shape "
                f"{list(saved[key].shape)} in the checkpoint but {list(tensor.shape)} in the model"
            )
    module.load_state_dict(saved, strict=True)
    return module


def load_module(
    path: str | os.PathLike[str], role: str, map_location: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild the module stored under ``role`` (e.g. "encoder") with its weights."""
    path = Path(path)
    payload = load_checkpoint(path)
    modules = payload["modules"]
    if role not in modules:
        raise CheckpointError(
            f"{path} has no role {role!r}; roles in this checkpoint: {', '.join(sorted(modules))}"
        )
    return _rebuild(path, role, modules[role]).to(map_location)


def load_modules(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, nn.Module]:
    """Rebuild every module in the checkpoint, keyed by role."""
    path = Path(path)
    payload = load_checkpoint(path)
    return {
        role: _rebuild(path, role, entry).to(map_location)
        for role, entry in payload["modules"].items()
    }
