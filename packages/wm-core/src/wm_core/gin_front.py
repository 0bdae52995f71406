"""The gin front end of every command line: parse, check macros, explain errors in one line.

``wm-collect``, ``wm-train`` and ``wm-eval`` take the same ``--gin FILE`` / ``--bind BINDING``
arguments (repeatable, later wins) and refuse the same mistakes before doing any work: a gin file
that does not exist, a ``--bind`` macro that no config uses (a typo would otherwise be a silent
no-op), an unknown configurable or parameter (with the closest known name).

gin offers no public way to list its configurables, so the project registers them through
``configurable`` / ``external_configurable`` below (thin wrappers of gin's own decorators that
also index the selector); the did-you-mean draws on that index.
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gin

from wm_core.names import did_you_mean
from wm_core.plugins import load_all

__all__ = [
    "ConfigError",
    "check_macros",
    "configurable",
    "debug_enabled",
    "explain_gin_error",
    "external_configurable",
    "index_configurable",
    "known_selectors",
    "one_line",
    "parse_config",
]

_SELECTORS: dict[str, Callable[..., Any]] = {}
_NO_CONFIGURABLE = re.compile(r"No configurable matching '([^']+)'")
_NO_PARAMETER = re.compile(r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'")
_MACRO_DEF = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", re.MULTILINE)
_MACRO_USE = re.compile(r"%([A-Za-z_][A-Za-z0-9_.]*)")


class ConfigError(ValueError):
    """A gin file or binding that cannot be used; the message names it and suggests a fix."""


# -- the index of configurables ----------------------------------------------------------------


def index_configurable(name: str, module: str | None, target: Callable[..., Any]) -> None:
    """Record ``module.name`` (and its parameters, via ``target``) for did-you-mean hints."""
    _SELECTORS[f"{module}.{name}" if module else name] = target


def configurable(
    name: str | Callable[..., Any] | None = None, *, module: str | None = None, **kwargs: Any
) -> Any:
    """``gin.configurable`` that also indexes the selector (same arguments)."""

    def decorate(obj: Any) -> Any:
        label = name if isinstance(name, str) else obj.__name__
        wrapped = gin.configurable(label, module=module, **kwargs)(obj)
        index_configurable(label, module, obj)
        return wrapped

    return decorate(name) if callable(name) else decorate


def external_configurable(
    obj: Any, name: str | None = None, *, module: str | None = None, **kwargs: Any
) -> Any:
    """``gin.external_configurable`` that also indexes the selector (same arguments)."""
    wrapped = gin.external_configurable(obj, name=name, module=module, **kwargs)
    index_configurable(name or obj.__name__, module, obj)
    return wrapped


def known_selectors() -> set[str]:
    """Every indexed configurable under each selector suffix (``a.b.c``, ``b.c``, ``c``)."""
    names: set[str] = set()
    for selector in _SELECTORS:
        parts = selector.split(".")
        names.update(".".join(parts[i:]) for i in range(len(parts)))
    return names


def _parameters(selector: str) -> list[str]:
    matches = [t for s, t in _SELECTORS.items() if s == selector or s.endswith("." + selector)]
    if len(matches) != 1:
        return []
    try:
        return list(inspect.signature(matches[0]).parameters)
    except (TypeError, ValueError):
        return []


# -- errors ------------------------------------------------------------------------------------


def debug_enabled(flag: bool = False) -> bool:
    """``--debug`` or ``WM_DEBUG=1``: show full tracebacks instead of one-line errors."""
    return flag or os.environ.get("WM_DEBUG", "") not in ("", "0")


def one_line(exc: BaseException) -> str:
    """An error message on one line, without the call context gin appends to it."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("In call to configurable")]
    return " ".join(" ".join(lines).split()) or type(exc).__name__


def explain_gin_error(exc: BaseException) -> str:
    """gin's first line plus a did-you-mean for the configurable or parameter it cannot find."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    first = text.splitlines()[0] if text.strip() else type(exc).__name__
    match = _NO_CONFIGURABLE.search(first)
    if match:
        return first + did_you_mean(match.group(1), known_selectors())
    match = _NO_PARAMETER.search(first)
    if match:
        return first + did_you_mean(match.group(2), _parameters(match.group(1)))
    return one_line(exc)


# -- parsing -----------------------------------------------------------------------------------


def check_macros(texts: Sequence[str], bindings: Sequence[str]) -> None:
    """A ``--bind NAME = ...`` macro that no config uses is a typo, not a silent no-op."""
    used = {m.split(".")[0] for t in [*texts, *bindings] for m in _MACRO_USE.findall(t)}
    defined = {m for t in texts for m in _MACRO_DEF.findall(t) if m.isupper()}
    for binding in bindings:
        for name in _MACRO_DEF.findall(binding):
            if name not in used:
                raise ConfigError(
                    f"--bind {binding.strip()!r}: macro {name!r} is not used by any config."
                    + did_you_mean(name, (used | defined) - {name})
                )


def parse_config(
    files: Sequence[str | Path], bindings: Sequence[str], *, command: str | None = None
) -> str:
    """Load plugins, check, then parse gin files and bindings (later wins).

    Returns the config as given (the command, each file's text, the bindings), which a run
    stores as ``config.gin`` so that ``--resume`` reads back exactly what was asked for.
    """
    load_all()  # gin refuses new configurables once the config is locked
    texts = []
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise ConfigError(f"--gin {f}: no such file")
        texts.append(path.read_text())
    check_macros(texts, bindings)
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings(
            [str(f) for f in files], list(bindings), skip_unknown=False
        )
    except (ValueError, KeyError, ImportError, SyntaxError, TypeError) as exc:
        raise ConfigError(explain_gin_error(exc)) from exc
    parts = [f"# {command}".rstrip()] if command else []
    for f, text in zip(files, texts, strict=True):
        parts.append(f"# ---- {f}\n{text.rstrip()}")
    if bindings:
        parts.append("# ---- --bind\n" + "\n".join(bindings))
    return "\n\n".join(parts) + "\n"


def command_line(prog: str, argv: Sequence[str]) -> str:
    """``prog`` and its arguments, quoted as a shell would need them."""
    return f"{prog} {shlex.join(list(argv))}".rstrip()
