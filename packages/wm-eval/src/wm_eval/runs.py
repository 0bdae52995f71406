"""Find runs and the runs derived from them, through wm-core's run-directory format.

A *run* is a directory with ``run.json`` (a ``wm_core.RunManifest``) and
``checkpoints/{best,last}.pt``; wm-train writes it and this module reads it with the same
code (``wm_core.run_format``). A *derived* run (a decoder trained on a frozen JEPA, a reward
head on a frozen encoder) records the run it loaded its modules from in ``init_from``, resolved
by ``wm_core.resolve_init_from`` (one rule for both packages). For each run named on the
command line, the derived runs are the run directories among its children and siblings (two
levels deep, and below any derived run found) whose ``init_from`` resolves to it, directly or
through another derived run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wm_core import RunFormatError, RunManifest, did_you_mean, read_manifest, resolve_init_from
from wm_core.run_format import CHECKPOINT_DIR, RUN_FILE, checkpoint_path, is_run_dir

SEARCH_DEPTH = 2


class RunError(RunFormatError):
    """A run directory is missing, unreadable or malformed."""


@dataclass
class RunInfo:
    """One run directory and its manifest (``meta``), with the runs derived from it."""

    path: Path
    meta: RunManifest
    derived: list[RunInfo] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def workflow(self) -> str:
        return self.meta.workflow or "unknown"

    @property
    def status(self) -> str:
        return self.meta.status

    @property
    def epochs_done(self) -> int:
        return self.meta.epochs_done

    @property
    def init_from(self) -> str | None:
        return self.meta.init_from

    @property
    def reward_source(self) -> str | None:
        """Which next latent the run's reward head was trained on ('true', 'predicted')."""
        return self.meta.reward_source

    @property
    def checkpoint(self) -> Path | None:
        """``best.pt`` if present, else ``last.pt``, else None."""
        return checkpoint_path(self.path, "best")

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.meta.data)

    def data_paths(self) -> list[str]:
        """Store paths of this run: a relative path is looked up from the run and its parents
        first (an exported result folder records paths relative to each run), then from the
        working directory; found paths are made absolute, so two runs share one store."""
        out = []
        for raw in self.data.get("paths") or []:
            p = Path(raw)
            if not p.is_absolute():
                for base in (self.path, *self.path.parents, Path.cwd()):
                    if (base / p).exists() or any((base / p.parent).glob(p.name)):
                        p = (base / p).resolve() if (base / p).exists() else base / p
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
    if not path.is_dir():
        parent = path.parent
        runs = sorted(p.name for p in parent.iterdir() if is_run_dir(p)) if parent.is_dir() else []
        hint = f"; runs beside it: {', '.join(runs)}" if runs else ""
        raise RunError(f"run: {path} is not a directory{hint}." + did_you_mean(path.name, runs))
    try:
        manifest = read_manifest(path)
    except RunFormatError as exc:
        raise RunError(f"run: {exc}") from exc
    return RunInfo(path=path.resolve(), meta=manifest)


def parent_run(run: RunInfo) -> Path | None:
    """The run directory ``run``'s ``init_from`` names, or None (none recorded, or not found)."""
    if not run.init_from:
        return None
    try:
        parent, _ = resolve_init_from(run.init_from, base=run.path, what=f"{run.path} init_from")
    except (FileNotFoundError, OSError):
        return None
    return parent


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
                    if c.name.startswith(".") or c.name in (CHECKPOINT_DIR, "tb"):
                        continue
                    nxt.append(c)
                    if (c / RUN_FILE).is_file():
                        seen[c.resolve()] = None
            level = nxt
    return list(seen)


def _pool(runs: Sequence[RunInfo], depth: int) -> dict[Path, RunInfo]:
    """Every readable run directory near the named runs (and near each one found)."""
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
    return pool


def discover(paths: Sequence[str | Path], *, depth: int = SEARCH_DEPTH) -> list[RunInfo]:
    """Read each named run and attach its derived runs.

    Candidates are run directories up to ``depth`` levels below each named run, its parent
    and (transitively) every derived run found, so ``runs/jepa/decoder/reward`` is found too.
    """
    runs = [read_run(p) for p in paths]
    children: dict[Path, list[RunInfo]] = {}
    for d, info in sorted(_pool(runs, depth).items()):
        parent = parent_run(info)
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
