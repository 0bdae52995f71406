"""Load what each run (and the runs derived from it) contributes, and encode frames with it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from wm_core import read_manifest, resolve_init_from
from wm_eval.runs import RunInfo
from wm_models import load_modules


@dataclass
class Component:
    """A set of modules from one checkpoint, with where they came from."""

    label: str
    run: RunInfo
    modules: dict[str, nn.Module]

    def get(self, role: str) -> nn.Module | None:
        """The module of ``role``; None when this checkpoint lacks it (the caller falls back)."""
        return self.modules.get(role)


@dataclass
class ModelGroup:
    """One run named on the command line plus its derived runs.

    ``world`` holds the run's own modules (encoder, predictor, target_encoder, maybe
    decoder); ``decoders`` and ``reward_heads`` list every checkpoint (own or derived) that
    carries that role, each with the encoder/predictor it was trained against.
    """

    label: str
    run: RunInfo
    world: Component | None
    decoders: list[Component] = field(default_factory=list)
    reward_heads: list[Component] = field(default_factory=list)
    error: str | None = None

    @property
    def encoder(self) -> nn.Module | None:
        return self.world.get("encoder") if self.world else None

    @property
    def predictor(self) -> nn.Module | None:
        return self.world.get("predictor") if self.world else None


def for_inference(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` on ``device`` in eval mode, without gradients, in its fastest layout.

    On CPU, convolution weights go channels-last: PyTorch then runs convolutions and
    transposed convolutions through oneDNN, about twice as fast for a conv decoder (same
    values to float rounding). Inputs need no change.
    """
    module.to(device).eval()
    module.requires_grad_(False)
    if device.type == "cpu":
        # A 5-D parameter (3-D convolution) has no channels-last layout: left as it is.
        with contextlib.suppress(RuntimeError):
            module.to(memory_format=torch.channels_last)
    return module


def _load(path: Path | None, device: torch.device) -> dict[str, nn.Module]:
    if path is None:
        return {}
    modules = load_modules(path, map_location=device)
    for m in modules.values():
        for_inference(m, device)
    return dict(modules)


def load_run_modules(
    run: RunInfo, device: torch.device, loaded: dict[Path, dict[str, nn.Module]] | None = None
) -> dict[str, nn.Module]:
    """A run's modules by role, from its checkpoint and, for roles the checkpoint leaves out
    that ``run.json`` says were loaded from another run, from that run.

    An exported result keeps one copy of a frozen module: a derived run's checkpoint may omit
    the encoder and predictor it loaded unchanged from ``init_from``
    (``tools/export_result.py``), which are then read from the source run. ``loaded``: the
    modules of runs already loaded, by resolved run directory (each is read once).
    """
    loaded = {} if loaded is None else loaded
    key = run.path.resolve()
    if key in loaded:
        return dict(loaded[key])
    modules = _load(run.checkpoint, device)
    loaded[key] = modules
    borrowed = [
        role
        for role, record in run.meta.modules.items()
        if role not in modules and record.source != "built"
    ]
    if not modules or not borrowed or not run.init_from:
        return dict(modules)
    source_dir, _ = resolve_init_from(run.init_from, base=run.path, what=f"{run.path} init_from")
    source = RunInfo(source_dir, read_manifest(source_dir))
    inherited = load_run_modules(source, device, loaded)
    modules.update({role: inherited[role] for role in borrowed if role in inherited})
    return dict(modules)


def load_group(run: RunInfo, label: str, device: torch.device) -> ModelGroup:
    """Load a run and its derived runs; a run without a checkpoint gives an empty group."""
    loaded: dict[Path, dict[str, nn.Module]] = {}
    own = load_run_modules(run, device, loaded)
    world = Component(label, run, own) if own else None
    group = ModelGroup(label=label, run=run, world=world)
    if run.checkpoint is None:
        group.error = f"no checkpoint under {run.path / 'checkpoints'}"
    sources = ([world] if world else []) + [
        Component(f"{label}/{d.name}", d, load_run_modules(d, device, loaded))
        for d in run.all_derived()
    ]
    for comp in sources:
        if "decoder" in comp.modules:
            group.decoders.append(comp)
        if "reward_head" in comp.modules:
            group.reward_heads.append(comp)
    return group


@torch.inference_mode()
def encode(
    encoder: nn.Module,
    frames: torch.Tensor,
    device: torch.device,
    batch_size: int = 256,
) -> np.ndarray:
    """Latents ``[N, D]`` (float64 numpy) of uint8 or [0, 1] float states ``[N, T, C, H, W]``."""
    out = []
    for s in range(0, len(frames), batch_size):
        x = frames[s : s + batch_size].to(device)
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        out.append(encoder(x).float().cpu())
    return torch.cat(out).double().numpy()


@torch.no_grad()
def apply_batched(
    fn: Callable[..., torch.Tensor],
    *tensors: torch.Tensor,
    device: torch.device,
    batch_size: int = 256,
) -> torch.Tensor:
    """Run ``fn`` over aligned tensors in batches on ``device``; results concatenated on CPU."""
    out = []
    for s in range(0, len(tensors[0]), batch_size):
        out.append(fn(*(t[s : s + batch_size].to(device) for t in tensors)).float().cpu())
    return torch.cat(out)
