"""Name registries for model parts, with entry-point plugins and gin bindings.

A researcher swaps a part by name (``ENCODER = 'vit'``), so every model is reachable three ways:
from python (``build("encoder", "vit", ...)``), from gin (``encoders.vit.depth = 2``), and from
third-party packages that declare an entry point in the group ``wm_models.plugins``.

Each module built here remembers how it was built (``module_spec``): kind, registry name and the
complete constructor keyword arguments (explicit, gin-bound and defaults), as plain python values,
so a checkpoint can rebuild the same architecture with no config at hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from torch import nn

from wm_core.names import UnknownNameError, did_you_mean
from wm_core.plugins import get_group
from wm_core.registry import NAME_RE as _NAME_RE
from wm_core.registry import Registry, RegistryClashError

__all__ = [
    "DECODERS",
    "ENCODERS",
    "INVERSE_HEADS",
    "KINDS",
    "PLUGIN_GROUP",
    "PREDICTORS",
    "REGISTRIES",
    "REWARD_HEADS",
    "Registry",
    "RegistryClashError",
    "UnknownModelError",
    "build",
    "get_registry",
    "list_models",
    "load_plugins",
    "model_registry",
    "module_spec",
]

PLUGIN_GROUP = "wm_models.plugins"
NO_PLUGINS_ENV = "WM_MODELS_NO_PLUGINS"
_SPEC_ATTR = "_wm_model_spec"


UnknownModelError = UnknownNameError
PLUGINS = get_group(PLUGIN_GROUP)


def load_plugins() -> list[str]:
    """Import every entry point of group ``wm_models.plugins``; returns the loaded entry names.

    Call this before parsing gin files: gin refuses new configurables once its config is locked,
    so a plugin first imported after parsing could not be bound from gin. Loading is idempotent;
    a plugin that fails to import is reported with a warning (and in unknown-name errors) instead
    of breaking every other model.
    """
    return PLUGINS.load()


# --------------------------------------------------------------------------------------------
# Specs


def _to_plain(value: Any, where: str) -> Any:
    """Plain python copy of ``value`` (tuples become lists) or a TypeError naming ``where``."""
    if value is None:
        return None
    for plain in (bool, int, float, str):  # subclasses (IntEnum, str enums) become the base type
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a non-string key {k!r}; spec dicts need str keys")
            out[k] = _to_plain(v, f"{where}[{k!r}]")
        return out
    raise TypeError(
        f"{where} is a {type(value).__name__} ({value!r}); model arguments must be plain python "
        "values (int, float, str, bool, None, list, dict) so checkpoints can rebuild the model"
    )


def _unwrap(module: nn.Module) -> nn.Module:
    """The built module inside DDP / AveragedModel / torch.compile wrappers."""
    seen = 0
    while not hasattr(module, _SPEC_ATTR) and seen < 8:
        inner = getattr(module, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(module, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            break
        module = inner
        seen += 1
    return module


def module_spec(module: nn.Module) -> dict[str, Any]:
    """``{"kind", "name", "kwargs"}`` of a module made by ``build``; ``build(**spec)`` remakes it.

    Wrappers (DistributedDataParallel, AveragedModel, torch.compile) are looked through.
    """
    inner = _unwrap(module)
    spec = getattr(inner, _SPEC_ATTR, None)
    if spec is None:
        raise ValueError(
            f"{type(module).__name__} was not made by wm_models.build, so it has no spec; "
            "build it by registry name to make it checkpointable"
        )
    return _to_plain(spec, "spec")


# --------------------------------------------------------------------------------------------
# Registry


def _signature_kwargs(target: Callable[..., Any], kwargs: dict[str, Any], label: str) -> dict:
    """Complete keyword arguments of a call: the given ones plus every default."""
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # builtins without a signature: record what was given
        return dict(kwargs)
    try:
        bound = sig.bind(**kwargs)
    except TypeError as exc:
        accepted = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        raise TypeError(f"{label}: {exc}; it accepts: {', '.join(accepted)}") from None
    bound.apply_defaults()
    out: dict[str, Any] = {}
    for pname, value in bound.arguments.items():
        param = sig.parameters[pname]
        if param.kind is param.VAR_KEYWORD:
            out.update(value)
        elif param.kind is param.VAR_POSITIONAL:
            continue
        else:
            out[pname] = value
    return out


def _construct_module(
    registry: Registry, name: str, target: Callable[..., Any], kwargs: dict[str, Any]
) -> nn.Module:
    """Build a model and record its spec: kind, name and every constructor argument."""
    label = f"{registry.kind} {name!r}"
    complete = _signature_kwargs(target, kwargs, label)
    plain = _to_plain(complete, f"{label} argument")
    module = target(**kwargs)
    if not isinstance(module, nn.Module):
        raise TypeError(f"{label} returned {type(module).__name__}, not a torch.nn.Module")
    setattr(module, _SPEC_ATTR, {"kind": registry.kind, "name": name, "kwargs": plain})
    return module


def model_registry(kind: str, *, gin_module: str | None = "") -> Registry:
    """A ``Registry`` of model parts: plugins from ``wm_models.plugins``, each entry the gin
    configurable ``<kind>s.<name>`` (or ``gin_module``), and every built module self-describing.
    """
    if not _NAME_RE.match(kind):
        raise ValueError(f"registry kind {kind!r} must be an identifier")
    return Registry(
        kind,
        plugin_group=PLUGIN_GROUP,
        gin_module=f"{kind}s" if gin_module == "" else gin_module,
        construct=_construct_module,
        what=f"{kind}s",
    )


ENCODERS = model_registry("encoder")
PREDICTORS = model_registry("predictor")
DECODERS = model_registry("decoder")
REWARD_HEADS = model_registry("reward_head")
INVERSE_HEADS = model_registry("inverse_head")
REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (ENCODERS, PREDICTORS, DECODERS, REWARD_HEADS, INVERSE_HEADS)
}
KINDS: tuple[str, ...] = tuple(REGISTRIES)


def get_registry(kind: str) -> Registry:
    """The registry of ``kind`` ("encoder", "predictor", "decoder", "reward_head",
    "inverse_head")."""
    registry = REGISTRIES.get(kind)
    if registry is None:
        raise ValueError(
            f"Unknown model kind {kind!r}.{did_you_mean(kind, KINDS)} Kinds: {', '.join(KINDS)}."
        )
    return registry


def build(kind: str, name: str, **kwargs: Any) -> nn.Module:
    """Build the ``kind`` model registered as ``name``; ``build(**module_spec(m))`` remakes ``m``.

    gin bindings of ``<kind>s.<name>`` (e.g. ``encoders.vit.depth = 2``) apply under ``kwargs``.
    """
    return get_registry(kind).build(name, **kwargs)


def list_models(kind: str, pattern: str = "*") -> list[str]:
    """Sorted names of ``kind`` matching an fnmatch ``pattern`` such as ``"v*"``."""
    return get_registry(kind).names(pattern)
