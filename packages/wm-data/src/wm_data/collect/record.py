"""``collection.json`` beside the shards: what the last ``collect`` run was asked for, what the
store holds, and why the two differ (``collect.on_target``). ``wm-data info`` prints it, and a
``stop`` run that ended short of its target is not redone by the next identical run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from wm_core import atomic_write_text

RECORD_NAME = "collection.json"


def read_record(folder: Path) -> dict[str, Any] | None:
    """The record of store folder ``folder``, or None when it has none (or an unreadable one:
    it describes the store, it is not part of it)."""
    try:
        record = json.loads((Path(folder) / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def shard_entry(previous: dict[str, Any] | None, name: str) -> dict[str, Any]:
    for entry in (previous or {}).get("shards", []):
        if isinstance(entry, dict) and entry.get("file") == name:
            return entry
    return {}


def explain(requested: dict[str, Any], steps: int, episodes: int, num_envs: int) -> str:
    """Why the store holds ``steps`` steps when ``requested['target_steps']`` were asked for."""
    want, mode = requested.get("target_steps"), requested.get("on_target", "finish_episodes")
    if want is None:
        return f"target of {requested.get('target_episodes')} episodes; {episodes} stored"
    if steps > want and mode == "finish_episodes":
        return (
            f"{steps - want} steps past the target: collect.on_target = 'finish_episodes' "
            "plays every episode running when the target is reached to its end, so a shard "
            f"passes its share by up to num_envs = {num_envs} episodes; "
            "collect.on_target = 'stop' keeps the store at or under the target"
        )
    if steps > want:
        return (
            f"{steps - want} steps past the target: the store already held them ('stop' never "
            "removes stored episodes, and keeps a shard's first episode whole even when it "
            "alone is longer than the shard's share)"
        )
    if steps < want:
        return (
            f"{want - steps} steps short of the target: collect.on_target = 'stop' stores "
            "whole episodes only while they fit; the next one would have passed the target, "
            "so it and the episodes still running were dropped"
        )
    return "exactly the target"


def write_record(
    folder: Path,
    *,
    requested: dict[str, Any],
    shards: Sequence[dict[str, Any]],
    run: dict[str, Any],
) -> dict[str, Any]:
    """Write ``folder/collection.json`` atomically and return it."""
    steps = sum(int(s["steps"]) for s in shards)
    episodes = sum(int(s["episodes"]) for s in shards)
    record = {
        "requested": requested,
        "stored": {"steps": steps, "episodes": episodes},
        "why": explain(requested, steps, episodes, int(requested.get("num_envs", 1))),
        "last_run": run,
        "shards": list(shards),
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(Path(folder) / RECORD_NAME, json.dumps(record, indent=2) + "\n")
    return record


def record_lines(record: dict[str, Any]) -> list[str]:
    """The lines ``wm-data info`` and ``wm-collect`` print about a record."""
    req, stored = record.get("requested", {}), record.get("stored", {})
    target = (
        f"{req.get('target_steps')} steps"
        if req.get("target_steps") is not None
        else f"{req.get('target_episodes')} episodes"
    )
    run = record.get("last_run", {})
    lines = [
        f"requested      {target}  (collect.on_target = {req.get('on_target')!r}); "
        f"stored {stored.get('steps')} steps in {stored.get('episodes')} episodes",
        f"why            {record.get('why', '-')}",
    ]
    if run.get("discarded_episodes"):
        lines.append(
            f"dropped        {run['discarded_episodes']} episodes ({run['discarded_steps']} "
            "steps) in the last run, never stored"
        )
    return lines
