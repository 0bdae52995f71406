"""Freeze policies: which roles are frozen at a given epoch. Registered by name and gin-bound.

Frozen roles run in eval mode without grad and never enter the optimizer, so their weights
stay bit-identical. EMA targets are always frozen in this sense (they follow their source).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from wm_core import Registry, configurable, unknown_name
from wm_train.settings import check_int

FREEZE_POLICIES = Registry("freeze_policy", plugin_group="wm_train.plugins", what="freeze policies")


class FreezePolicy(Protocol):
    """Which roles are frozen in each epoch; registered under a name in ``FREEZE_POLICIES``."""

    def frozen(self, epoch: int) -> set[str]:
        """Roles frozen during ``epoch`` (0-based)."""

    def names(self) -> set[str]:
        """Every role the policy mentions, checked against the world before training starts."""


def register_freeze(name: str, *, force: bool = False) -> Callable[[Any], Any]:
    """Add a freeze policy (a class, or a factory of policies) under ``name``."""
    return FREEZE_POLICIES.register(name, force=force)


@register_freeze("none")
@configurable("none", module="freeze")
class NoFreeze:
    """Train every module (EMA targets still follow their source)."""

    def frozen(self, epoch: int) -> set[str]:
        return set()

    def names(self) -> set[str]:
        return set()


@register_freeze("modules")
@configurable("modules", module="freeze")
class FreezeModules:
    """Keep the named roles frozen for the whole run (e.g. a loaded encoder)."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        self._names = set(names)

    def frozen(self, epoch: int) -> set[str]:
        return set(self._names)

    def names(self) -> set[str]:
        return set(self._names)


@register_freeze("unfreeze_after")
@configurable("unfreeze_after", module="freeze")
class UnfreezeAfter:
    """Freeze the named roles for the first ``epochs`` epochs, then fine-tune them too."""

    def __init__(self, names: Sequence[str] = (), epochs: int = 1) -> None:
        check_int("freeze.unfreeze_after.epochs", epochs, 0)
        self._names = set(names)
        self.epochs = epochs

    def frozen(self, epoch: int) -> set[str]:
        return set(self._names) if epoch < self.epochs else set()

    def names(self) -> set[str]:
        return set(self._names)


def make_freeze(spec: str | FreezePolicy) -> FreezePolicy:
    """A registry name (gin supplies its arguments) or a ready policy."""
    return FREEZE_POLICIES.create(spec)


def check_names(policy: FreezePolicy, roles: Iterable[str]) -> None:
    """Fail before any work when the policy names a role the world does not have."""
    roles = set(roles)
    for name in sorted(policy.names()):
        if name not in roles:
            raise unknown_name(f"module in freeze policy {type(policy).__name__}", name, roles)


def always_frozen(policy: FreezePolicy, epochs: int) -> set[str]:
    """Roles frozen in every epoch of the run (their outputs can be cached)."""
    sets = [policy.frozen(e) for e in range(max(1, epochs))]
    return set.intersection(*sets)
