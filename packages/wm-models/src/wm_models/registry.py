"""Name registries for model parts, with entry-point plugins and gin bindings.

A researcher swaps a part by name (``ENCODER = 'vit'``), so every model is reachable three ways:
from python (``build("encoder", "vit", ...)``), from gin (``encoders.vit.depth = 2``), and from
third-party packages that declare an entry point in the group ``wm_models.plugins``.

Each module built here remembers how it was built (``module_spec``): kind, registry name and the
complete constructor keyword arguments (explicit, gin-bound and defaults), as plain python values,
so a checkpoint can rebuild the same architecture with no config at hand.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib.metadata
import inspect
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import gin
import numpy as np
from torch import nn

__all__ = [
    "DECODERS",
    "ENCODERS",
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
    "module_spec",
]

PLUGIN_GROUP = "wm_models.plugins"
NO_PLUGINS_ENV = "WM_MODELS_NO_PLUGINS"
_SPEC_ATTR = "_wm_model_spec"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

T = TypeVar("T", bound=Callable[..., Any])


class UnknownModelError(KeyError):
    """A registry name that is not registered; the message lists known names and suggestions."""

    def __init__(self, message: str, *, kind: str, name: str, known: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.known = known

    def __str__(self) -> str:  # KeyError would quote the message and escape newlines.
        return self.message


class RegistryClashError(ValueError):
    """A name registered twice without ``force=True`` (silent overwrites hide plugin bugs)."""


# --------------------------------------------------------------------------------------------
# Plugins


_plugin_lock = threading.RLock()
_plugins_loaded = False
_plugin_errors: dict[str, str] = {}
_loaded_plugins: list[str] = []


def _autoload_disabled() -> bool:
    return os.environ.get(NO_PLUGINS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def load_plugins() -> list[str]:
    """Import every entry point of group ``wm_models.plugins``; returns the loaded entry names.

    Call this before parsing gin files: gin refuses new configurables once its config is locked,
    so a plugin first imported after parsing could not be bound from gin. Loading is idempotent;
    a plugin that fails to import is reported with a warning (and in unknown-name errors) instead
    of breaking every other model. An entry point may name a module (importing it registers
    models) or a function taking no arguments (called once).
    """
    global _plugins_loaded
    with _plugin_lock:
        if _plugins_loaded:
            return list(_loaded_plugins)
        _plugins_loaded = True  # set first: a plugin that lists models must not recurse
        seen: set[tuple[str, str]] = set()
        for ep in importlib.metadata.entry_points(group=PLUGIN_GROUP):
            if (ep.name, ep.value) in seen:
                continue
            seen.add((ep.name, ep.value))
            try:
                obj = ep.load()
                if inspect.isfunction(obj):
                    obj()
            except Exception as exc:
                _plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"wm_models plugin {ep.name!r} ({ep.value}) failed to load: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )
            else:
                _loaded_plugins.append(ep.name)
        return list(_loaded_plugins)


def _maybe_autoload() -> bool:
    """Load plugins lazily unless disabled; True if this call loaded them."""
    if _plugins_loaded or _autoload_disabled():
        return False
    load_plugins()
    return True


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


_GIN_MODULES: set[str] = set()


class Registry:
    """Names -> model classes or factories for one kind of part ("encoder", "predictor", ...).

    ``@ENCODERS.register("conv")`` adds a class or factory; registering a taken name is an error
    unless ``force=True``. Each name is also a gin configurable ``<kind>s.<name>``, so its
    constructor arguments are bindable (``encoders.conv.channels = (32, 64)``) and ``build``
    applies those bindings under the explicit keyword arguments.
    """

    def __init__(self, kind: str, *, gin_module: str | None = "") -> None:
        if not _NAME_RE.match(kind):
            raise ValueError(f"registry kind {kind!r} must be an identifier")
        self.kind = kind
        self.gin_module = f"{kind}s" if gin_module == "" else gin_module
        if self.gin_module is not None:
            if not _NAME_RE.match(self.gin_module):
                raise ValueError(f"gin_module {self.gin_module!r} must be an identifier")
            if self.gin_module in _GIN_MODULES:
                raise ValueError(
                    f"gin namespace {self.gin_module!r} already belongs to another registry; "
                    "pass gin_module=None (not bindable) or another name"
                )
            _GIN_MODULES.add(self.gin_module)
        self._entries: dict[str, Callable[..., Any]] = {}
        self._gin_entries: dict[str, Callable[..., Any]] = {}
        self._lock = threading.RLock()

    # -- registration ------------------------------------------------------------------------

    def register(
        self, name: str, target: T | None = None, *, force: bool = False
    ) -> Callable[[T], T] | T:
        """Register ``target`` under ``name``; used bare as a decorator when ``target`` is None."""
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"{self.kind} name {name!r} must be an identifier (letters, digits, '_'), "
                "so that gin can bind it"
            )

        def decorate(obj: T) -> T:
            if not callable(obj):
                raise TypeError(f"{self.kind} {name!r}: can only register a class or a factory")
            with self._lock:
                old = self._entries.get(name)
                if old is not None and old is not obj and not force:
                    raise RegistryClashError(
                        f"{self.kind} {name!r} is already registered ({_describe(old)}); "
                        f"pass force=True to replace it with {_describe(obj)}"
                    )
                self._entries[name] = obj
                self._register_gin(name, obj)
            return obj

        return decorate if target is None else decorate(target)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (its gin configurable stays, and then reports the name as unknown)."""
        with self._lock:
            if name not in self._entries:
                raise self._unknown(name)
            del self._entries[name]

    def _register_gin(self, name: str, obj: Callable[..., Any]) -> None:
        if self.gin_module is None:
            return
        entry = self._gin_entries.get(name)
        if entry is not None:  # re-registration: the gin entry dispatches to the new target
            entry.__wrapped__ = obj  # type: ignore[attr-defined]
            entry.__doc__ = obj.__doc__
            return
        registry = self

        def entry(**kwargs: Any) -> nn.Module:
            return registry._construct(name, kwargs)

        entry.__name__ = entry.__qualname__ = name
        entry.__module__ = f"wm_models.{self.gin_module}"
        entry.__doc__ = obj.__doc__
        entry.__wrapped__ = obj  # type: ignore[attr-defined]  # gin validates params via this
        try:
            gin.register(name, module=self.gin_module)(entry)
        except (RuntimeError, ValueError) as exc:  # usable by name, but not bindable from gin
            hint = (
                "call wm_models.load_plugins() before parsing gin files"
                if gin.config_is_locked()
                else f"another gin configurable is already named {self.gin_module}.{name}"
            )
            warnings.warn(
                f"{self.kind} {name!r} cannot be bound from gin ({exc}); {hint}",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        self._gin_entries[name] = entry

    # -- lookup ------------------------------------------------------------------------------

    def get(self, name: str) -> Callable[..., Any]:
        """The class or factory registered as ``name`` (plugins are loaded on a miss)."""
        obj = self._entries.get(name)
        if obj is None and _maybe_autoload():
            obj = self._entries.get(name)
        if obj is None:
            raise self._unknown(name)
        return obj

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching an fnmatch ``pattern`` (loads plugins first)."""
        _maybe_autoload()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={sorted(self._entries)})"

    def _unknown(self, name: str) -> UnknownModelError:
        known = sorted(self._entries)
        msg = f"Unknown {self.kind} {name!r}."
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
        if close:
            msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        msg += f" Known {self.kind}s: {', '.join(known) if known else '(none)'}."
        msg += (
            f" If {name!r} comes from a plugin, is the plugin package installed? Plugins register "
            f"models through the entry-point group {PLUGIN_GROUP!r}"
        )
        if _autoload_disabled() and not _plugins_loaded:
            msg += f"; auto-loading is off ({NO_PLUGINS_ENV} is set), call wm_models.load_plugins()"
        msg += "."
        if _plugin_errors:
            failed = "; ".join(f"{k}: {v}" for k, v in sorted(_plugin_errors.items()))
            msg += f" Plugins that failed to load: {failed}."
        return UnknownModelError(msg, kind=self.kind, name=name, known=known)

    # -- building ----------------------------------------------------------------------------

    def build(self, name: str, *, use_gin: bool = True, **kwargs: Any) -> nn.Module:
        """Build ``name`` with ``kwargs`` over gin's bindings for ``<kind>s.<name>``.

        ``kwargs`` may also be given as one mapping ``kwargs={...}``, the form a spec stores.
        With ``use_gin=False`` gin bindings are ignored (checkpoints rebuild exactly what they
        recorded).
        """
        if set(kwargs) == {"kwargs"} and isinstance(kwargs["kwargs"], Mapping):
            kwargs = dict(kwargs["kwargs"])
        self.get(name)  # unknown names fail here, with suggestions, before gin is involved
        entry = self._gin_entries.get(name) if use_gin else None
        if entry is not None:
            # Through gin's wrapper: bindings fill what is not given, and the operative config
            # records them (a run's operative_config.gin then shows encoders.vit.depth etc.).
            selector = f"{self.gin_module}.{name}"
            return gin.get_configurable(selector)(**kwargs)
        return self._construct(name, kwargs)

    def _construct(self, name: str, kwargs: dict[str, Any]) -> nn.Module:
        target = self.get(name)
        label = f"{self.kind} {name!r}"
        complete = _signature_kwargs(target, kwargs, label)
        plain = _to_plain(complete, f"{label} argument")
        module = target(**kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"{label} returned {type(module).__name__}, not a torch.nn.Module")
        setattr(module, _SPEC_ATTR, {"kind": self.kind, "name": name, "kwargs": plain})
        return module


def _describe(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


ENCODERS = Registry("encoder")
PREDICTORS = Registry("predictor")
DECODERS = Registry("decoder")
REWARD_HEADS = Registry("reward_head")
REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (ENCODERS, PREDICTORS, DECODERS, REWARD_HEADS)
}
KINDS: tuple[str, ...] = tuple(REGISTRIES)


def get_registry(kind: str) -> Registry:
    """The registry of ``kind`` ("encoder", "predictor", "decoder", "reward_head")."""
    registry = REGISTRIES.get(kind)
    if registry is None:
        close = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown model kind {kind!r}.{hint} Kinds: {', '.join(KINDS)}.")
    return registry


def build(kind: str, name: str, **kwargs: Any) -> nn.Module:
    """Build the ``kind`` model registered as ``name``; ``build(**module_spec(m))`` remakes ``m``.

    gin bindings of ``<kind>s.<name>`` (e.g. ``encoders.vit.depth = 2``) apply under ``kwargs``.
    """
    return get_registry(kind).build(name, **kwargs)


def list_models(kind: str, pattern: str = "*") -> list[str]:
    """Sorted names of ``kind`` matching an fnmatch ``pattern`` such as ``"v*"``."""
    return get_registry(kind).names(pattern)
