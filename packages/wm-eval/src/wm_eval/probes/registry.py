"""The probe registry: ``@PROBES.register("name")`` on a ``run(session) -> list[Table]``.

A third-party package adds a probe by declaring an entry point in the group
``wm_eval.plugins`` whose module registers it here. The default probe list is every registered
probe in a stable order: each probe's ``order`` (``register(..., order=...)``), then its name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from wm_core import Registry, UnknownNameError

if TYPE_CHECKING:
    from wm_eval.report import Table
    from wm_eval.session import EvalSession

    Probe = Callable[[EvalSession], list[Table]]

__all__ = ["DEFAULT_ORDER", "PROBES", "check_probes", "default_probes", "probe"]

PROBES = Registry("probe", plugin_group="wm_eval.plugins", what="probes")
DEFAULT_ORDER = 1000
F = TypeVar("F", bound=Callable[..., object])


def probe(
    name: str, *, order: int = DEFAULT_ORDER, force: bool = False, default: bool = True
) -> Callable[[F], F]:
    """Register a probe under ``name``; ``order`` places it in the default list (lower first).

    ``default=False``: an opt-in probe (one that costs real game time), run only when named.
    """

    def decorate(fn: F) -> F:
        fn.probe_order = order  # type: ignore[attr-defined]
        fn.probe_default = default  # type: ignore[attr-defined]
        PROBES.register(name, fn, force=force)
        return fn

    return decorate


def default_probes() -> tuple[str, ...]:
    """Every registered probe (plugins included) but the opt-in ones, by ``order`` then name."""
    names = [n for n in PROBES.names() if getattr(PROBES.get(n), "probe_default", True)]
    return tuple(
        sorted(names, key=lambda n: (getattr(PROBES.get(n), "probe_order", DEFAULT_ORDER), n))
    )


def check_probes(names: tuple[str, ...], field: str = "probes") -> tuple[str, ...]:
    """``names`` if every one is a registered probe, else ``UnknownNameError`` naming ``field``."""
    for name in names:
        if name not in PROBES:
            err = PROBES.unknown(name)
            raise UnknownNameError(
                f"{field}: {err.message}", kind=err.kind, name=err.name, known=err.known
            )
    return tuple(names)
