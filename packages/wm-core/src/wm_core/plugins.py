"""Entry-point plugins, loaded lazily and once per group, with an environment switch to turn off.

A third-party package adds models, losses, probes or collection policies without touching this
repository: it declares an entry point in the group its registry names (``wm_models.plugins``,
``wm_train.plugins``, ``wm_eval.plugins``, ``wm_data.plugins``). Importing the entry point's
module registers its parts; an entry point naming a function is called once instead.

Loading happens on a registry miss or a listing, never at import, and must happen before gin
parses a config (gin refuses new configurables once its config is locked): every CLI calls
``load_all()`` first. ``WM_NO_PLUGINS=1`` turns auto-loading off for every group, and
``<PACKAGE>_NO_PLUGINS=1`` (e.g. ``WM_MODELS_NO_PLUGINS``) for one.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import threading
import warnings

__all__ = ["ALL_GROUPS_ENV", "PluginGroup", "get_group", "load_all"]

ALL_GROUPS_ENV = "WM_NO_PLUGINS"
_FALSE = ("", "0", "false", "no")


class PluginGroup:
    """The entry points of one group: which loaded, which failed and why."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.env = group.split(".")[0].upper() + "_NO_PLUGINS"
        self.loaded = False
        self.names: list[str] = []
        self.errors: dict[str, str] = {}
        self._lock = threading.RLock()

    def autoload_disabled(self) -> bool:
        return any(
            os.environ.get(var, "").strip().lower() not in _FALSE
            for var in (self.env, ALL_GROUPS_ENV)
        )

    def load(self) -> list[str]:
        """Import every entry point of the group once; returns the names that loaded.

        A plugin that fails to import is reported with a warning (and in unknown-name errors)
        instead of breaking every other part.
        """
        with self._lock:
            if self.loaded:
                return list(self.names)
            self.loaded = True  # set first: a plugin that lists names must not recurse
            seen: set[tuple[str, str]] = set()
            for ep in importlib.metadata.entry_points(group=self.group):
                if (ep.name, ep.value) in seen:
                    continue
                seen.add((ep.name, ep.value))
                try:
                    obj = ep.load()
                    if inspect.isfunction(obj):
                        obj()
                except Exception as exc:
                    self.errors[ep.name] = f"{type(exc).__name__}: {exc}"
                    warnings.warn(
                        f"{self.group} plugin {ep.name!r} ({ep.value}) failed to load: {exc}",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                else:
                    self.names.append(ep.name)
            return list(self.names)

    def maybe_load(self) -> bool:
        """Load lazily unless switched off; True if this call loaded the group."""
        if self.loaded or self.autoload_disabled():
            return False
        self.load()
        return True

    def miss_hint(self, name: str, what: str) -> str:
        """What to check when ``name`` may come from a plugin of this group."""
        text = (
            f" If {name!r} comes from a plugin, is the plugin package installed? Plugins register "
            f"{what} through the entry-point group {self.group!r}"
        )
        if self.autoload_disabled() and not self.loaded:
            text += (
                f"; auto-loading is off ({self.env} or {ALL_GROUPS_ENV} is set), "
                "call load_plugins()"
            )
        text += "."
        if self.errors:
            failed = "; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items()))
            text += f" Plugins that failed to load: {failed}."
        return text


_GROUPS: dict[str, PluginGroup] = {}
_GROUPS_LOCK = threading.Lock()


def get_group(group: str) -> PluginGroup:
    """The one ``PluginGroup`` of an entry-point group name."""
    with _GROUPS_LOCK:
        if group not in _GROUPS:
            _GROUPS[group] = PluginGroup(group)
        return _GROUPS[group]


def load_all() -> dict[str, list[str]]:
    """Load every group a registry has named so far (call before parsing gin files)."""
    with _GROUPS_LOCK:
        groups = list(_GROUPS.values())
    return {g.group: g.load() for g in groups}
