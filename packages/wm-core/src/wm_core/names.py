"""Unknown names: one error type and one did-you-mean for every registry, role and key."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["UnknownNameError", "close_matches", "did_you_mean", "unknown_name"]

CUTOFF = 0.6


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The choices closest to ``name`` (difflib ratio >= 0.6), best first."""
    return difflib.get_close_matches(str(name), sorted(set(choices)), n=n, cutoff=CUTOFF)


def did_you_mean(name: str, choices: Iterable[str], n: int = 1) -> str:
    """`` Did you mean 'x'?`` (or ``'x' or 'y'``) for the closest choices, else ``''``."""
    close = close_matches(name, choices, n=n)
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""


class UnknownNameError(KeyError):
    """A name that is not registered; the message lists the known names and close matches."""

    def __init__(self, message: str, *, kind: str = "", name: str = "", known=()) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.known = sorted(known)

    def __str__(self) -> str:  # KeyError would quote the message and escape newlines
        return self.message


def unknown_name(what: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """The error for an unknown ``name`` among ``choices`` (``what`` says what kind of name)."""
    known = sorted(set(choices))
    return UnknownNameError(
        f"unknown {what} {name!r}; known: {', '.join(known) or '(none)'}."
        + did_you_mean(name, known, n=3),
        kind=what,
        name=name,
        known=known,
    )
