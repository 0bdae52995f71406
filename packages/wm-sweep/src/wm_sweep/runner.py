"""The function every job runs (locally or on a Slurm node): one stage's command, once.

It takes the stage's lock (two attempts of one stage never run at once: a rerun started while
an orphaned attempt still runs waits for it), skips the stage when its output is already
finished, resumes what an earlier attempt left, writes ``.sweep/state/<stage>.json`` before and
after, and sends the command's output to ``logs/<stage>.log``. A failing command raises
``StageFailed`` naming the stage, its exit code, the last lines of its log and the log path, so
that submitit (and Slurm's ``afterok``) see the job fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wm_sweep.stages import Stage, StageState, stage_done, started_state, write_state

__all__ = ["StageFailed", "job_environment", "run_stage", "tail"]

TAIL_LINES = 5


class StageFailed(RuntimeError):
    """A stage's command exited non-zero (or finished without its output)."""


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last non-empty lines of a log, joined with ' | ' (one line for an error message)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    return " | ".join(kept)


@contextlib.contextmanager
def stage_lock(stage: Stage) -> Iterator[None]:
    """An exclusive lock per stage; waits while another attempt holds it (best effort: a file
    system without ``flock`` runs without it)."""
    path = stage.path(stage.state).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        with contextlib.suppress(OSError):  # a file system without locks (some NFS)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)


def job_environment(stage: Stage) -> dict[str, str]:
    """The job's environment: this Python's scripts first on PATH (the CLIs of the same
    install), and one BLAS/OpenMP thread pool per job sized to its share of the cores."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env.setdefault("OMP_NUM_THREADS", str(stage.threads))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _die_with_job() -> None:
    """Linux: the command is killed when the job process dies (``PR_SET_PDEATHSIG``), so a
    killed job never leaves its command writing a run that a rerun is about to resume."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover
        pass


def _job_id() -> str | None:
    for var in ("SLURM_JOB_ID", "SUBMITIT_LOCAL_JOB_ID"):
        if os.environ.get(var):
            return os.environ[var]
    return None


def run_stage(raw: dict[str, Any]) -> dict[str, Any]:
    """Run one stage (given as ``Stage.to_dict()``: plain data pickles across versions)."""
    stage = Stage.from_dict(raw)
    with stage_lock(stage):
        if stage_done(stage):
            return {"stage": stage.id, "status": "finished", "skipped": True}
        command = stage.command_now()
        state = started_state(stage, command, _job_id())
        write_state(stage, state)
        log = stage.path(stage.log)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as handle:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            handle.write(f"\n==== {stamp} {stage.id}: {subprocess.list2cmdline(command)}\n")
            handle.flush()
            try:
                proc = subprocess.run(
                    command,
                    cwd=stage.cwd,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env=job_environment(stage),
                    check=False,
                    preexec_fn=_die_with_job if sys.platform.startswith("linux") else None,
                )
                code = proc.returncode
            except OSError as exc:  # the command is not installed
                handle.write(f"{exc}\n")
                code = 127
        return _finish(stage, state, code, log)


def _finish(stage: Stage, state: StageState, code: int, log: Path) -> dict[str, Any]:
    error = None
    if code != 0:
        error = f"exit code {code}"
    elif stage.kind != "collect" and not stage_done(stage):
        error = f"exited 0 but {stage.output} is not finished"
    state.ended, state.returncode = time.time(), code
    if error is None:
        state.status = "finished"
        write_state(stage, state)  # a collect stage is done from here on
        return {"stage": stage.id, "status": "finished", "skipped": False}
    state.status, state.error = "failed", f"{error}: {tail(log)}"
    write_state(stage, state)
    raise StageFailed(f"stage {stage.id} failed ({error}); log {log}: {tail(log)}")
