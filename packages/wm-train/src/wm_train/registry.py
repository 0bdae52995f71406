"""Small name -> factory registries for losses and freeze policies, with a kind miss message."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wm_data.cli_errors import did_you_mean

__all__ = ["Registry", "UnknownNameError", "did_you_mean", "unknown"]


class UnknownNameError(KeyError):
    """A registry name, role or binding that does not exist (the message suggests a close match)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def unknown(what: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the error for an unknown ``name`` among ``choices``."""
    choices = sorted(choices)
    return UnknownNameError(
        f"unknown {what} {name!r}; known: {', '.join(choices) or '(none)'}."
        + did_you_mean(name, choices)
    )


class Registry:
    """Maps names to factories; a clash is an error unless ``force=True``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, *, force: bool = False) -> Callable[[Any], Any]:
        def decorator(factory: Any) -> Any:
            if name in self._factories and not force:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered (force=True replaces)"
                )
            self._factories[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._factories:
            raise unknown(self.kind, name, self._factories)
        return self._factories[name]

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def create(self, spec: Any) -> Any:
        """Build a registry name with no arguments (gin fills them); pass anything else through."""
        return self.get(spec)() if isinstance(spec, str) else spec
