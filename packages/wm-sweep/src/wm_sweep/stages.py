"""One stage of a sweep: its command, what it depends on, and how to tell it is finished.

A stage is finished when its output says so, whoever made it: a store whose last collection
exited cleanly with the same command, a run whose ``run.json`` says ``finished``, an evaluation
with its ``report.json``, an aggregate newer than every report it read. Everything else runs
again, and every command continues what an interrupted attempt left (``wm-train --resume``,
``wm-collect`` appends to its store), so rerunning a sweep after a crash finishes it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wm_core import atomic_write_text
from wm_core.run_format import RunFormatError, is_run_dir, read_manifest

__all__ = ["Stage", "StageState", "read_state", "stage_done", "write_state"]

COLLECTION_RECORD = "collection.json"  # written by wm-collect beside the store's shards
REPORT = "report.json"  # written last by wm-eval
AGGREGATE = "aggregate.json"  # written last by wm-sweep aggregate


@dataclass
class Stage:
    """One job: a command run in ``cwd`` once every stage in ``deps`` has finished."""

    id: str
    kind: str  # 'collect', 'train', 'eval' or 'aggregate'
    command: list[str]
    deps: list[str]
    output: str
    cwd: str
    log: str
    state: str
    labels: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # report.json files an aggregate reads
    threads: int = 1

    @property
    def slug(self) -> str:
        return self.id.replace("/", ".")

    def path(self, raw: str) -> Path:
        """A stage path as the job sees it (relative paths are relative to ``cwd``)."""
        p = Path(raw)
        return p if p.is_absolute() else Path(self.cwd) / p

    def command_now(self) -> list[str]:
        """The command as it runs now: a training run that has started resumes."""
        if self.kind == "train" and is_run_dir(self.path(self.output)):
            return [*self.command, "--resume"]
        return list(self.command)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Stage:
        return cls(**raw)


@dataclass
class StageState:
    """What the last attempt of a stage did (``.sweep/state/<stage>.json``)."""

    status: str  # 'running', 'finished', 'failed'
    command: list[str]
    host: str = ""
    pid: int = 0
    job_id: str | None = None
    started: float = 0.0
    ended: float | None = None
    returncode: int | None = None
    error: str | None = None

    def alive(self) -> bool | None:
        """Whether the process is still running (None: on another host, cannot tell)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover
            return True
        return not _zombie(self.pid)


def _zombie(pid: int) -> bool:
    """A killed process nobody has reaped yet (an orphan in a container without an init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def read_state(stage: Stage) -> StageState | None:
    try:
        raw = json.loads(stage.path(stage.state).read_text())
        return StageState(**raw)
    except (OSError, ValueError, TypeError):
        return None


def write_state(stage: Stage, state: StageState) -> None:
    atomic_write_text(stage.path(stage.state), json.dumps(asdict(state), indent=2) + "\n")


def _run_finished(path: Path) -> bool:
    try:
        return read_manifest(path).status == "finished"
    except RunFormatError:
        return False


def _newest(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)


def stage_done(stage: Stage) -> bool:
    """Whether the stage's output is complete (then the stage is skipped)."""
    out = stage.path(stage.output)
    if stage.kind == "train":
        return _run_finished(out)
    if stage.kind == "eval":
        return (out / REPORT).is_file()
    if stage.kind == "aggregate":
        result = out / AGGREGATE
        reports = [stage.path(p) for p in stage.inputs]
        return result.is_file() and result.stat().st_mtime >= _newest(reports)
    if stage.kind == "collect":
        state = read_state(stage)
        return (
            (out / COLLECTION_RECORD).is_file()
            and state is not None
            and state.status == "finished"
            and state.command == stage.command
        )
    raise ValueError(f"stage {stage.id}: unknown kind {stage.kind!r}")


def started_state(stage: Stage, command: list[str], job_id: str | None) -> StageState:
    return StageState(
        status="running",
        command=command,
        host=socket.gethostname(),
        pid=os.getpid(),
        job_id=job_id,
        started=time.time(),
    )
