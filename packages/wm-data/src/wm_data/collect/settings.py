"""Checks on every ``collect`` setting, run before anything is created: a refused run leaves no
folder, no agent and no shard behind, and its one-line error names the gin key and the range."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wm_core import ConfigError, did_you_mean
from wm_data.store.filters import COMPRESSIONS

ON_TARGET = ("finish_episodes", "stop")
BACKENDS = ("auto", "native", "gymnasium")

# (low, high) of each integer setting; None as a value is allowed for those in OPTIONAL.
INT_RANGES: dict[str, tuple[int, int]] = {
    "frameskip": (1, 64),
    "size": (8, 512),
    "frame_stack": (1, 64),
    "noop_max": (0, 10_000),
    "max_episode_steps": (1, 10**9),
    "target_steps": (1, 10**12),
    "target_episodes": (1, 10**9),
    "agent_steps": (1, 10**12),
    "num_envs": (1, 1024),
    "num_workers": (1, 1024),
    "seed": (0, 2**31 - 1),
    "chunk_frames": (1, 4096),
}
OPTIONAL = ("max_episode_steps", "target_steps", "target_episodes")
PROBABILITIES = ("sticky", "epsilon")
FLAGS = ("grayscale", "full_action_space", "deterministic", "ram", "overwrite", "progress")


def _refuse(key: str, value: Any, why: str) -> ConfigError:
    return ConfigError(f"collect.{key} = {value!r}: {why}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_numbers(settings: Mapping[str, Any]) -> None:
    for key, (low, high) in INT_RANGES.items():
        value = settings[key]
        if value is None and key in OPTIONAL:
            continue
        if not _is_int(value) or not low <= value <= high:
            span = f">= {low}" if high >= 10**9 else f"in [{low}, {high}]"
            none = ", or None" if key in OPTIONAL else ""
            raise _refuse(key, value, f"must be an int {span}{none}")
    for key in PROBABILITIES:
        value = settings[key]
        ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
        if not ok or not math.isfinite(float(value)) or not 0.0 <= float(value) <= 1.0:
            raise _refuse(key, value, "must be a probability in [0, 1]")
    for key in FLAGS:
        if not isinstance(settings[key], (bool, np.bool_)):
            raise _refuse(key, settings[key], "must be True or False")
    if settings["target_steps"] is None and settings["target_episodes"] is None:
        raise _refuse(
            "target_steps", None, "set collect.target_steps or collect.target_episodes (>= 1)"
        )


@functools.lru_cache(maxsize=1)
def atari_env_ids() -> tuple[str, ...]:
    """Every env id ale-py registers with gymnasium (``ALE/Pong-v5``, ``PongNoFrameskip-v4``)."""
    import gymnasium as gym

    import wm_data.envs  # noqa: F401  (registers the ALE envs)

    return tuple(sorted(k for k, s in gym.registry.items() if _is_ale(s.entry_point)))


def _is_ale(entry_point: Any) -> bool:
    return str(getattr(entry_point, "__module__", entry_point)).startswith("ale_py")


def _check_env_id(env_id: Any) -> None:
    if not isinstance(env_id, str) or not env_id:
        raise _refuse("env_id", env_id, "must be a gymnasium Atari id such as 'ALE/Pong-v5'")
    ids = atari_env_ids()
    if env_id in ids:
        return
    same = [i for i in ids if i.lower() == env_id.lower()]
    hint = f" Did you mean {same[0]!r}?" if same else did_you_mean(env_id, ids)
    raise _refuse(
        "env_id",
        env_id,
        f"not an Atari env registered by ale-py ({len(ids)} are, e.g. 'ALE/Pong-v5').{hint}",
    )


def _check_choices(settings: Mapping[str, Any]) -> None:
    for key, choices in (
        ("on_target", ON_TARGET),
        ("backend", BACKENDS),
        ("compression", COMPRESSIONS),
    ):
        if settings[key] not in choices:
            names = " or ".join(repr(c) for c in choices)
            raise _refuse(
                key, settings[key], f"must be {names}." + did_you_mean(str(settings[key]), choices)
            )
    if settings["backend"] == "native":
        if settings["ram"]:
            raise _refuse("backend", "native", "exposes no emulator RAM; set collect.ram = False")
        if settings["max_episode_steps"] is not None:
            raise _refuse(
                "backend", "native", "cannot reproduce collect.max_episode_steps; leave it None"
            )
    path = settings["path"]
    if not isinstance(path, (str, Path)) or not str(path):
        raise _refuse("path", path, "must be a store directory such as 'data/assault'")
    agent = settings["agent_path"]
    if agent is not None and (not isinstance(agent, (str, Path)) or Path(agent).suffix != ".zip"):
        raise _refuse("agent_path", agent, "must be None or a path ending in .zip")


def check_collect_settings(settings: Mapping[str, Any]) -> None:
    """Refuse a ``collect`` call whose settings cannot work, naming the gin key and what is
    valid, before any file or folder is made (so a typo never leaves an empty store)."""
    from wm_data.policies import POLICIES, policy_needs_agent

    POLICIES.get(settings["policy"])  # an unknown policy names the known ones
    _check_env_id(settings["env_id"])
    _check_numbers(settings)
    _check_choices(settings)
    if policy_needs_agent(settings["policy"]) and settings["agent_path"] is None:
        from wm_data.agent import MIN_AGENT_FRAME_SIZE

        if settings["size"] < MIN_AGENT_FRAME_SIZE:
            raise _refuse(
                "size",
                settings["size"],
                f"the PPO agent of policy {settings['policy']!r} needs frames of at least "
                f"{MIN_AGENT_FRAME_SIZE}x{MIN_AGENT_FRAME_SIZE}; collect at a larger size or "
                "with collect.policy = 'random'",
            )
