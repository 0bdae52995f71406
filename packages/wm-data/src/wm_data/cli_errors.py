"""One-line user errors for the project's command lines (wm-collect, wm-train, wm-eval).

Every CLI parses gin files and turns gin's multi-line errors into one line naming the bad key,
with a did-you-mean. The other packages' CLIs depend on wm-data, so the helpers live here.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Iterable

import gin

__all__ = ["debug_enabled", "did_you_mean", "explain_gin_error", "one_line"]

_NO_CONFIGURABLE = re.compile(r"No configurable matching '([^']+)'")
_NO_PARAMETER = re.compile(r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'")


def debug_enabled(flag: bool = False) -> bool:
    """``--debug`` or ``WM_DEBUG=1``: show full tracebacks instead of one-line errors."""
    return flag or os.environ.get("WM_DEBUG", "") not in ("", "0")


def one_line(exc: BaseException) -> str:
    """An error message on one line, without the call context gin appends to it."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("In call to configurable")]
    return " ".join(" ".join(lines).split()) or type(exc).__name__


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def configurable_names() -> set[str]:
    """Every registered gin configurable under each selector suffix (``a.b.c``, ``b.c``, ``c``)."""
    names: set[str] = set()
    for selector, _ in gin.config._REGISTRY.items():
        parts = selector.split(".")
        names.update(".".join(parts[i:]) for i in range(len(parts)))
    return names


def parameter_names(selector: str) -> list[str]:
    """Parameters of the configurable ``selector``, or none when gin cannot resolve it."""
    try:
        return list(inspect.signature(gin.config._REGISTRY.get_match(selector).wrapped).parameters)
    except Exception:  # an ambiguous or unknown selector: no suggestion rather than a new error
        return []


def explain_gin_error(exc: BaseException) -> str:
    """gin's first line plus a did-you-mean for the configurable or parameter it cannot find."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    first = text.splitlines()[0] if text.strip() else type(exc).__name__
    match = _NO_CONFIGURABLE.search(first)
    if match:
        return first + did_you_mean(match.group(1), configurable_names())
    match = _NO_PARAMETER.search(first)
    if match:
        return first + did_you_mean(match.group(2), parameter_names(match.group(1)))
    return one_line(exc)
