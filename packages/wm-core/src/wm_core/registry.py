"""One ``Registry`` for every named part: models, losses, freeze policies, probes, policies.

``@LOSSES.register("jepa")`` adds a class or factory; registering a taken name is an error unless
``force=True`` (silent overwrites hide plugin bugs); ``names("v*")`` lists with fnmatch; a miss
names the known entries, the closest ones and the plugin group to check. Optional features:

- ``plugin_group``: entry points of that group are imported on a miss or a listing;
- ``gin_module``: every entry is also the gin configurable ``<gin_module>.<name>``, so its
  constructor arguments are bindable and ``build`` applies the bindings under explicit ones;
- ``construct``: a hook ``(registry, name, target, kwargs) -> object`` that ``build`` calls
  instead of ``target(**kwargs)`` (wm-models records each module's spec there);
- ``error``: a subclass of ``UnknownNameError`` that a miss raises (e.g. one that is also a
  ``ValueError``, where callers already catch that).
"""

from __future__ import annotations

import fnmatch
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import gin

from wm_core.names import UnknownNameError, close_matches
from wm_core.plugins import PluginGroup, get_group

__all__ = ["Registry", "RegistryClashError", "UnknownNameError"]

T = TypeVar("T", bound=Callable[..., Any])
Construct = Callable[["Registry", str, Callable[..., Any], dict[str, Any]], Any]
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GIN_MODULES: set[str] = set()


class RegistryClashError(ValueError):
    """A name registered twice without ``force=True``."""


def _describe(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class Registry:
    """Names -> classes or factories of one kind of part."""

    def __init__(
        self,
        kind: str,
        *,
        plugin_group: str | None = None,
        gin_module: str | None = None,
        construct: Construct | None = None,
        what: str | None = None,
        error: type[UnknownNameError] = UnknownNameError,
    ) -> None:
        self.kind = kind
        self.error = error
        self.what = what or f"{kind}s"
        self.plugins: PluginGroup | None = get_group(plugin_group) if plugin_group else None
        self.gin_module = gin_module
        if gin_module is not None:
            if not NAME_RE.match(gin_module):
                raise ValueError(f"gin_module {gin_module!r} must be an identifier")
            if gin_module in _GIN_MODULES:
                raise ValueError(
                    f"gin namespace {gin_module!r} already belongs to another registry; "
                    "pass gin_module=None (not bindable) or another name"
                )
            _GIN_MODULES.add(gin_module)
        self._construct_hook = construct
        self._entries: dict[str, Callable[..., Any]] = {}
        self._gin_entries: dict[str, Callable[..., Any]] = {}
        self._lock = threading.RLock()

    # -- registration ------------------------------------------------------------------------

    def register(
        self, name: str, target: T | None = None, *, force: bool = False
    ) -> Callable[[T], T] | T:
        """Register ``target`` under ``name``; a decorator when ``target`` is None."""
        if not isinstance(name, str) or not NAME_RE.match(name):
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
        """Remove ``name`` (a gin configurable stays, and then reports the name as unknown)."""
        with self._lock:
            if name not in self._entries:
                raise self.unknown(name)
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

        def entry(**kwargs: Any) -> Any:
            return registry._construct(name, kwargs)

        entry.__name__ = entry.__qualname__ = name
        entry.__module__ = f"{self.gin_module}"
        entry.__doc__ = obj.__doc__
        entry.__wrapped__ = obj  # type: ignore[attr-defined]  # gin validates params via this
        try:
            gin.register(name, module=self.gin_module)(entry)
        except (RuntimeError, ValueError) as exc:  # usable by name, but not bindable from gin
            hint = (
                "call load_plugins() before parsing gin files"
                if gin.config_is_locked()
                else f"another gin configurable is already named {self.gin_module}.{name}"
            )
            warnings.warn(
                f"{self.kind} {name!r} cannot be bound from gin ({exc}); {hint}",
                RuntimeWarning,
                stacklevel=4,
            )
            return
        self._gin_entries[name] = entry

    # -- lookup ------------------------------------------------------------------------------

    def _autoload(self) -> bool:
        return self.plugins.maybe_load() if self.plugins is not None else False

    def get(self, name: str) -> Callable[..., Any]:
        """The class or factory registered as ``name`` (plugins are loaded on a miss)."""
        obj = self._entries.get(name)
        if obj is None and self._autoload():
            obj = self._entries.get(name)
        if obj is None:
            raise self.unknown(name)
        return obj

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching an fnmatch ``pattern`` (loads plugins first)."""
        self._autoload()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        if name not in self._entries and isinstance(name, str):
            self._autoload()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={sorted(self._entries)})"

    def unknown(self, name: str) -> UnknownNameError:
        """The error for a miss: known names, the closest ones, and where plugins come from."""
        known = sorted(self._entries)
        msg = f"Unknown {self.kind} {name!r}."
        close = close_matches(str(name), known)
        if close:
            msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        msg += f" Known {self.what}: {', '.join(known) if known else '(none)'}."
        if self.plugins is not None:
            msg += self.plugins.miss_hint(str(name), self.what)
        return self.error(msg, kind=self.kind, name=str(name), known=known)

    # -- building ----------------------------------------------------------------------------

    def create(self, spec: Any, **kwargs: Any) -> Any:
        """A registry name becomes ``build(name, **kwargs)``; anything else passes through."""
        return self.build(spec, **kwargs) if isinstance(spec, str) else spec

    def build(self, name: str, *, use_gin: bool = True, **kwargs: Any) -> Any:
        """Make ``name`` with ``kwargs``, over gin's bindings of ``<gin_module>.<name>``.

        ``kwargs`` may also be one mapping ``kwargs={...}`` (the form a saved spec stores).
        With ``use_gin=False`` bindings are ignored (a checkpoint rebuilds what it recorded).
        """
        if set(kwargs) == {"kwargs"} and isinstance(kwargs["kwargs"], Mapping):
            kwargs = dict(kwargs["kwargs"])
        target = self.get(name)  # unknown names fail here, before gin is involved
        entry = self._gin_entries.get(name) if use_gin else None
        if entry is not None:
            # Through gin's wrapper: bindings fill what is not given, and the operative config
            # records them.
            return gin.get_configurable(f"{self.gin_module}.{name}")(**kwargs)
        if self._construct_hook is None:
            return target(**kwargs)
        return self._construct(name, kwargs)

    def _construct(self, name: str, kwargs: dict[str, Any]) -> Any:
        target = self.get(name)
        if self._construct_hook is None:
            return target(**kwargs)
        return self._construct_hook(self, name, target, kwargs)
