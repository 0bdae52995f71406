"""What ``--status`` and ``--dry-run`` print: each stage's state, dependencies and command."""

from __future__ import annotations

import json
from collections import Counter

from wm_sweep.execute import JOBS_FILE
from wm_sweep.plan import Plan, format_command
from wm_sweep.stages import Stage, read_state, stage_done

__all__ = ["describe_graph", "stage_status", "status_table"]


def _jobs(plan: Plan) -> dict[str, dict]:
    try:
        return json.loads((plan.out / ".sweep" / JOBS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def stage_status(stage: Stage, jobs: dict[str, dict] | None = None) -> tuple[str, str]:
    """(status, detail): done, running, interrupted, failed, queued or pending."""
    if stage_done(stage):
        return "done", ""
    state = read_state(stage)
    job = (jobs or {}).get(stage.id, {})
    if state is None:
        if job.get("executor") == "slurm":
            return "queued", f"job {job.get('job_id')}"
        return "pending", ""
    if state.status == "failed":
        return "failed", state.error or ""
    if state.status == "running":
        alive = state.alive()
        where = f"pid {state.pid} on {state.host}"
        if alive is False:
            return "interrupted", f"{where} is gone; rerun to resume"
        return "running", where + (f", job {state.job_id}" if state.job_id else "")
    return "pending", "finished before, its output has changed since"


def status_table(plan: Plan) -> tuple[str, Counter]:
    """One line per stage (status, id, log, detail) and the count of each status."""
    jobs = _jobs(plan)
    rows, counts = [], Counter()
    for stage in plan.stages:
        status, detail = stage_status(stage, jobs)
        counts[status] += 1
        rows.append((status, stage.id, stage.log, detail))
    width = max(len(r[1]) for r in rows)
    lines = [f"{'status':<12}{'stage':<{width + 2}}log"]
    for status, sid, log, detail in rows:
        lines.append(f"{status:<12}{sid:<{width + 2}}{log}" + (f"  ({detail})" if detail else ""))
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines.append(f"{len(plan.stages)} stages: {summary}")
    return "\n".join(lines), counts


def describe_graph(plan: Plan, executor: str, resources: dict[str, dict]) -> str:
    """The graph with the exact command of every stage, as it would run now."""
    lines = [f"sweep {plan.spec.name}: {len(plan.stages)} stages, executor {executor}"]
    for kind, params in resources.items():
        lines.append(f"  {kind:<10} {json.dumps(params, sort_keys=True)}")
    for stage in plan.stages:
        done = stage_done(stage)
        after = f" <- {', '.join(stage.deps)}" if stage.deps else ""
        if len(stage.deps) > 3:
            after = f" <- {len(stage.deps)} stages ({stage.deps[0]}, ...)"
        lines.append("")
        lines.append(f"[{'done, skipped' if done else 'to run'}] {stage.id}{after}")
        lines.append(f"  {format_command(stage.command_now())}")
    todo = sum(not stage_done(s) for s in plan.stages)
    lines += ["", f"{todo} of {len(plan.stages)} stages to run"]
    return "\n".join(lines)
