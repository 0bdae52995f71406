"""Settings of the control probe: one dataclass, bindable from gin as ``ControlConfig.<field>``.

The probe plays real games, so its budget (``episodes`` x ``max_steps``) sets its cost; the
planner's search (``candidates`` x ``horizon`` x ``iterations`` predictor rows per decision)
sets its decisions per second.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any

from wm_core import ConfigError, did_you_mean
from wm_core.gin_front import external_configurable

PLANNER_NAMES = ("cem", "random_shooting")
INT_LOWS = {"candidates": 1, "horizon": 1, "iterations": 1, "episodes": 1, "max_steps": 1}


def _refuse(name: str, value: Any, why: str) -> ConfigError:
    return ConfigError(f"ControlConfig.{name} = {value!r}: {why}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class ControlConfig:
    """Model-predictive control in latent space, scored by real game return.

    ``planner``: ``'cem'`` (cross-entropy method over per-step categorical distributions:
    ``iterations`` rounds of ``candidates`` sampled sequences, refit to the best
    ``elite_fraction``, the new distribution mixed with ``smoothing`` of the old one) or
    ``'random_shooting'`` (one round of uniform sequences). Sequences of ``horizon`` actions are
    scored by the discounted (``discount``) sum of predicted rewards; the first action of the
    best is played and the search starts again at the next step.

    Budget: ``episodes`` real episodes per policy (env seeds ``seed .. seed + episodes - 1``,
    the same for every policy, so returns compare paired), each cut at ``max_steps`` steps
    (or earlier at the store's own ``max_episode_steps``).
    """

    planner: str = "cem"
    candidates: int = 128
    horizon: int = 6
    iterations: int = 2
    elite_fraction: float = 0.1
    smoothing: float = 0.1
    discount: float = 0.99
    episodes: int = 10
    max_steps: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        if self.planner not in PLANNER_NAMES:
            raise _refuse(
                "planner",
                self.planner,
                f"must be one of {', '.join(PLANNER_NAMES)}."
                + did_you_mean(str(self.planner), PLANNER_NAMES),
            )
        for name, low in INT_LOWS.items():
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise _refuse(name, value, f"must be an int >= {low}")
        if not _is_int(self.seed) or self.seed < 0:
            raise _refuse("seed", self.seed, "must be an int >= 0")
        if not _is_real(self.elite_fraction) or not 0 < self.elite_fraction <= 1:
            raise _refuse("elite_fraction", self.elite_fraction, "must be in (0, 1]")
        if not _is_real(self.smoothing) or not 0 <= self.smoothing < 1:
            raise _refuse("smoothing", self.smoothing, "must be in [0, 1)")
        if not _is_real(self.discount) or not 0 < self.discount <= 1:
            raise _refuse("discount", self.discount, "must be in (0, 1]")

    @property
    def elites(self) -> int:
        """How many of the candidates refit the CEM distribution (at least one)."""
        return max(1, math.ceil(self.elite_fraction * self.candidates))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# gin wraps a copy: instantiate the returned class so bindings apply.
GinControlConfig = external_configurable(ControlConfig, module="wm_eval")


def control_config() -> ControlConfig:
    """The settings as bound in gin (``ControlConfig.<field>``), checked; defaults otherwise."""
    try:
        return GinControlConfig()
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from exc
