"""Run a plan with submitit: every unfinished stage as one job.

On Slurm (``srun`` on PATH, or ``Sweep.executor = 'slurm'``) every job is submitted at once, each
with ``--dependency=afterok:<the jobs of its unfinished dependencies>`` and the resources of its
stage kind (``Slurm.*``); the command returns once they are queued. Locally, a loop submits a
stage to submitit's ``LocalExecutor`` when its dependencies have finished, never more than
``Local.max_jobs`` at once, and waits for the end; a stage whose dependency failed is not run.
Finished stages are never submitted, so the same command continues an interrupted sweep.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit

from wm_core import atomic_write_text
from wm_sweep.plan import Plan
from wm_sweep.runner import run_stage
from wm_sweep.spec import Local, Slurm, Sweep
from wm_sweep.stages import Stage, read_state, stage_done

__all__ = ["JOBS_FILE", "Outcome", "choose_executor", "run_local", "submit_slurm"]

JOBS_FILE = "jobs.json"
Log = Callable[[str], None]


def choose_executor(spec: Sweep) -> str:
    """'slurm' where ``srun`` is on PATH (or when asked for), else 'local'."""
    if spec.executor != "auto":
        return spec.executor
    return "slurm" if shutil.which("srun") else "local"


@dataclass
class Outcome:
    """What happened to each stage this time: done (now or before), failed, not run."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # finished before this call
    failed: dict[str, str] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)  # a dependency failed
    submitted: dict[str, str] = field(default_factory=dict)  # stage -> job id

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked


def _folder(plan: Plan, stage: Stage) -> Path:
    return plan.out / ".sweep" / "submitit" / stage.slug


def _record_jobs(plan: Plan, executor: str, jobs: dict[str, str]) -> None:
    path = plan.out / ".sweep" / JOBS_FILE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known.update({sid: {"executor": executor, "job_id": jid} for sid, jid in jobs.items()})
    atomic_write_text(path, json.dumps(known, indent=2) + "\n")


def submit_slurm(
    plan: Plan, slurm: Slurm, *, make_executor: Callable[..., Any] | None = None, log: Log = print
) -> Outcome:
    """Queue every unfinished stage on Slurm, one job each, chained with ``afterok``."""
    make = make_executor or (lambda folder: submitit.AutoExecutor(folder=folder, cluster="slurm"))
    outcome, ids = Outcome(), {}
    for stage in plan.stages:
        if stage_done(stage):
            outcome.skipped.append(stage.id)
            continue
        executor = make(_folder(plan, stage) / "%j")
        params = slurm.parameters(stage.kind)
        deps = [ids[d] for d in stage.deps if d in ids]
        if deps:
            extra = dict(params["slurm_additional_parameters"])
            extra["dependency"] = "afterok:" + ":".join(deps)
            extra["kill_on_invalid_dep"] = "yes"
            params["slurm_additional_parameters"] = extra
        executor.update_parameters(name=f"wm-sweep.{stage.slug}", **params)
        job = executor.submit(run_stage, stage.to_dict())
        ids[stage.id] = str(job.job_id)
        log(f"queued {stage.id}: job {job.job_id}" + (f" after {', '.join(deps)}" if deps else ""))
    outcome.submitted = ids
    _record_jobs(plan, "slurm", ids)
    return outcome


class _Interrupted(Exception):
    pass


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise _Interrupted(signal.Signals(signum).name)


def run_local(plan: Plan, local: Local, *, log: Log = print) -> Outcome:
    """Run unfinished stages as local submitit jobs in dependency order; wait for them all."""
    outcome = Outcome()
    status: dict[str, str] = {}
    for stage in plan.stages:
        status[stage.id] = "done" if stage_done(stage) else "pending"
        if status[stage.id] == "done":
            outcome.skipped.append(stage.id)
    running: dict[str, Any] = {}
    previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            started = _start_ready(plan, local, status, running, outcome, log)
            finished = _collect_finished(plan, status, running, outcome, log)
            if not running and not started and not finished:
                break
            if not finished:
                time.sleep(local.poll_s)
    except _Interrupted as exc:
        for job in running.values():
            job.cancel()
        log(f"{exc}: cancelled {len(running)} running stage(s); rerun to continue")
        raise KeyboardInterrupt from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return outcome


def _start_ready(
    plan: Plan,
    local: Local,
    status: dict[str, str],
    running: dict[str, Any],
    outcome: Outcome,
    log: Log,
) -> bool:
    started = False
    for stage in plan.stages:
        if status[stage.id] != "pending":
            continue
        deps = [status[d] for d in stage.deps]
        if any(d in ("failed", "blocked") for d in deps):
            status[stage.id] = "blocked"
            outcome.blocked.append(stage.id)
            log(f"not run  {stage.id}: a dependency failed")
            continue
        if not all(d == "done" for d in deps) or len(running) >= int(local.max_jobs or 1):
            continue
        executor = submitit.LocalExecutor(folder=_folder(plan, stage) / "%j")
        executor.update_parameters(timeout_min=local.timeout_min)
        job = executor.submit(run_stage, stage.to_dict())
        running[stage.id], status[stage.id] = job, "running"
        outcome.submitted[stage.id] = str(job.job_id)
        _record_jobs(plan, "local", {stage.id: str(job.job_id)})
        log(f"started  {stage.id} (log {stage.log})")
        started = True
    return started


def _collect_finished(
    plan: Plan, status: dict[str, str], running: dict[str, Any], outcome: Outcome, log: Log
) -> bool:
    stages = plan.by_id()
    finished = False
    for sid, job in list(running.items()):
        if not job.done():
            continue
        finished = True
        del running[sid]
        try:
            job.result()
        except Exception as exc:  # the job's StageFailed, or a killed job
            state = read_state(stages[sid])
            why = state.error if state and state.error else str(exc).strip().splitlines()[-1]
            status[sid] = "failed"
            outcome.failed[sid] = why
            log(f"FAILED   {sid}: {why} (log {stages[sid].log})")
            continue
        status[sid] = "done"
        outcome.done.append(sid)
        log(f"done     {sid}")
    return finished
