"""What a report was computed from: code, package versions, stores, split and settings.

A number in ``report.json`` can only be trusted, or reproduced, when it says which commit of
which code ran on which store with which held-out episodes. Store identity is cheap on purpose:
file sizes and a digest of the episodes table and metadata (which change whenever an episode
is added or a store rewritten), never a hash of all frames.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wm_data import StoreError
from wm_eval.data import plain

if TYPE_CHECKING:
    from wm_eval.data import DataSource

PACKAGES = {  # report key -> distribution name
    "wm-core": "wm-core",
    "wm-data": "wm-data",
    "wm-models": "wm-models",
    "wm-train": "wm-train",
    "wm-eval": "wm-eval",
    "torch": "torch",
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
}


def git_state(path: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the checkout holding ``path`` (default: this package's
    source), or None outside a git checkout or without git."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = _git(where, "rev-parse", "HEAD")
        dirty = bool(_git(where, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _git(where: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=20, check=True
    )
    return out.stdout.strip()


def versions() -> dict[str, str | None]:
    """Installed versions of the workbench packages and the numerical stack (None: absent)."""
    out: dict[str, str | None] = {}
    for key, dist in PACKAGES.items():
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = None
    return out


def store_identity(source: DataSource) -> dict[str, Any]:
    """Paths, sizes, a digest of the episodes table and metadata, and the store's summary."""
    episodes = source.episodes
    meta = plain(dict(source.metadata))
    paths = [Path(p) for p in source.paths]
    return {
        "paths": [str(p) for p in paths],
        "sizes": [p.stat().st_size if p.is_file() else None for p in paths],
        "digest": source.content_digest(),
        "env_id": meta.get("env_id"),
        "created": meta.get("created"),
        "episodes": len(episodes),
        "steps": int(episodes["length"].sum()) if len(episodes) else 0,
    }


def collect(
    sources: Iterable[tuple[list[str], DataSource]], config: dict[str, Any]
) -> dict[str, Any]:
    """The ``provenance`` entry of ``report.json``.

    ``sources`` pairs each distinct store (as its runs' labels) with its ``DataSource``.
    """
    stores = []
    for runs, src in sources:
        try:
            identity = store_identity(src)
            split = src.split_summary()
        except (OSError, ValueError, KeyError, StoreError) as exc:  # reported, not raised
            identity, split = {"paths": list(src.paths), "error": str(exc)}, None
        stores.append({"runs": runs, **identity, "context": src.context, "split": split})
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "python": platform.python_version(),
        "versions": versions(),
        "stores": stores,
        "eval_config": config,
    }


def provenance_markdown(prov: dict[str, Any]) -> str:
    """A short provenance section for ``report.md`` (report.json has all of it)."""
    git = prov.get("git")
    commit = "not a git checkout" if not git else git["commit"][:12]
    if git and git.get("dirty"):
        commit += " (uncommitted changes)"
    vers = ", ".join(f"{k} {v}" for k, v in (prov.get("versions") or {}).items() if v)
    lines = ["## Provenance", "", f"- code: {commit}", f"- versions: {vers or 'n/a'}"]
    for s in prov.get("stores", []):
        runs = ", ".join(s.get("runs", []))
        if "error" in s:
            lines.append(f"- store {', '.join(s['paths'])} ({runs}): unreadable: {s['error']}")
            continue
        sp = s.get("split") or {}
        counts = sp.get("episodes", {})
        lines.append(
            f"- store {', '.join(s['paths'])} ({runs}): {s.get('env_id')}, "
            f"{s['episodes']} episodes, {s['steps']} steps, {s['digest'][:19]}…; split "
            f"train/val/test = {counts.get('train')}/{counts.get('val')}/{counts.get('test')} "
            f"episodes (val {sp.get('val_fraction')}, test {sp.get('test_fraction')}, "
            f"seed {sp.get('split_seed')})"
        )
    lines.append("- evaluation settings: `report.json` → `provenance.eval_config`")
    return "\n".join(lines) + "\n"
