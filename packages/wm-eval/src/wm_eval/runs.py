"""Find runs and the runs derived from them, from the ``run.json`` files wm-train writes.

A *run* is a directory with ``run.json`` and ``checkpoints/{best,last}.pt``. A *derived* run
(a decoder trained on a frozen JEPA, a reward head on a frozen encoder) records the run it
loaded its modules from in ``init_from``. For each run named on the command line, the
derived runs are the run directories among its children and siblings (two levels deep, and
below any derived run found) whose ``init_from`` resolves to it, directly or through another
derived run.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
CHECKPOINT_NAMES = ("best.pt", "last.pt")
SEARCH_DEPTH = 2


class RunError(Exception):
    """A run directory is missing, unreadable or malformed."""


@dataclass
class RunInfo:
    """One run directory and what its ``run.json`` says."""

    path: Path
    meta: dict[str, Any]
    derived: list[RunInfo] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def workflow(self) -> str:
        return str(self.meta.get("workflow") or "unknown")

    @property
    def checkpoint(self) -> Path | None:
        """``best.pt`` if present, else ``last.pt``, else None."""
        for name in CHECKPOINT_NAMES:
            p = self.path / "checkpoints" / name
            if p.is_file():
                return p
        return None

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.meta.get("data") or {})

    def data_paths(self) -> list[str]:
        """Store paths of this run, made absolute where a relative path exists next to the run."""
        out = []
        for raw in self.data.get("paths") or []:
            p = Path(raw)
            if not p.is_absolute() and not p.exists():
                for base in (self.path, *self.path.parents):
                    if (base / p).exists() or any((base / p.parent).glob(p.name)):
                        p = base / p
                        break
            out.append(str(p))
        return out

    def all_derived(self) -> list[RunInfo]:
        """Derived runs, depth first (runs derived from derived runs included)."""
        out = []
        for d in self.derived:
            out.append(d)
            out.extend(d.all_derived())
        return out


def read_run(path: str | Path) -> RunInfo:
    """Read ``<path>/run.json``; raise :class:`RunError` naming the problem."""
    path = Path(path)
    file = path / RUN_FILE
    if not path.is_dir():
        beside = path.parent.glob(f"*/{RUN_FILE}") if path.parent.is_dir() else []
        runs = sorted(p.parent.name for p in beside)
        close = difflib.get_close_matches(path.name, runs, n=1, cutoff=0.5)
        hint = f"; runs beside it: {', '.join(runs)}" if runs else ""
        hint += f". Did you mean {close[0]!r}?" if close else ""
        raise RunError(f"run: {path} is not a directory{hint}")
    if not file.is_file():
        raise RunError(f"run: {path} has no {RUN_FILE} (is it a wm-train run directory?)")
    try:
        meta = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"run: cannot read {file}: {exc}") from exc
    if not isinstance(meta, dict):
        raise RunError(f"run: {file} must hold a JSON object, got {type(meta).__name__}")
    if "workflow" not in meta:
        raise RunError(f"run: {file} has no 'workflow' field")
    return RunInfo(path=path.resolve(), meta=meta)


def _resolve_init_from(run: RunInfo) -> Path | None:
    """The run directory ``init_from`` names: absolute, relative to cwd, or to the run's parents.

    A path to a checkpoint file inside a run resolves to that run.
    """
    raw = run.meta.get("init_from")
    if not raw:
        return None
    p = Path(str(raw))
    candidates = [p] if p.is_absolute() else [Path.cwd() / p, *(b / p for b in run.path.parents)]
    for c in candidates:
        if c.exists():
            c = c.resolve()
            for d in (c, *c.parents):
                if (d / RUN_FILE).is_file():
                    return d
    return None


def _candidate_dirs(roots: Iterable[Path], depth: int) -> list[Path]:
    seen: dict[Path, None] = {}
    for root in roots:
        level = [root]
        for _ in range(depth):
            nxt = []
            for d in level:
                try:
                    children = sorted(c for c in d.iterdir() if c.is_dir())
                except OSError:
                    continue
                for c in children:
                    if c.name.startswith(".") or c.name in ("checkpoints", "tb"):
                        continue
                    nxt.append(c)
                    if (c / RUN_FILE).is_file():
                        seen[c.resolve()] = None
            level = nxt
    return list(seen)


def discover(paths: Sequence[str | Path], *, depth: int = SEARCH_DEPTH) -> list[RunInfo]:
    """Read each named run and attach its derived runs.

    Candidates are run directories up to ``depth`` levels below each named run, its parent
    and (transitively) every derived run found, so ``runs/jepa/decoder/reward`` is found too.
    """
    runs = [read_run(p) for p in paths]
    named = {r.path for r in runs}
    pool: dict[Path, RunInfo] = {}
    searched: set[Path] = set()
    roots = named | {r.path.parent for r in runs}
    while roots - searched:
        new = sorted(roots - searched)
        searched |= set(new)
        for d in _candidate_dirs(new, depth):
            if d in pool or d in named:
                continue
            try:
                pool[d] = read_run(d)
            except RunError:
                continue
            roots.add(d)
    children: dict[Path, list[RunInfo]] = {}
    for d, info in sorted(pool.items()):
        parent = _resolve_init_from(info)
        if parent is not None and parent != d:
            children.setdefault(parent, []).append(info)

    def attach(run: RunInfo, stack: frozenset[Path]) -> None:
        for child in children.get(run.path, []):
            if child.path in stack:
                continue
            run.derived.append(child)
            attach(child, stack | {child.path})

    for r in runs:
        attach(r, frozenset({r.path}))
    return runs
