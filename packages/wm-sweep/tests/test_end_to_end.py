"""The tiny sweep (configs/sweeps/tiny.gin: 2 seeds, tiny scale) end to end through submitit's
local executor, with real collection, training, evaluation and aggregation: killed mid-way, then
finished by the same command without redoing what had finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SPEC = REPO / "configs" / "sweeps" / "tiny.gin"
KILL_AFTER_S = 420
NO_PREFLIGHT = ("--bind", "Sweep.check_commands = False")  # tested in test_spec.py


def _command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "wm_sweep",
        "--gin",
        str(SPEC),
        "--bind",
        f"Sweep.out = '{out}'",
        *extra,
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _finished_runs(out: Path) -> list[Path]:
    found = []
    for manifest in (out / "runs").rglob("run.json"):
        if json.loads(manifest.read_text()).get("status") == "finished":
            found.append(manifest.parent)
    return found


def _started_unfinished(out: Path) -> list[Path]:
    return [
        m.parent
        for m in (out / "runs").rglob("run.json")
        if json.loads(m.read_text()).get("status") != "finished"
    ]


def _mtimes(paths: list[Path]) -> dict[Path, int]:
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return {f: f.stat().st_mtime_ns for f in files}


def _run(out: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The sweep in its own process group, killed whole if it overruns (no orphaned jobs)."""
    proc = subprocess.Popen(
        _command(out, *extra),
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _kill_mid_way(out: Path) -> None:
    """Start the sweep and kill its whole process group once a run has finished and another
    one is under way (a crash: no clean-up runs)."""
    proc = subprocess.Popen(
        _command(out, *NO_PREFLIGHT),
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + KILL_AFTER_S
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "runs").exists() and _finished_runs(out) and _started_unfinished(out):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        assert time.monotonic() < deadline, "no run finished in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_tiny_sweep_killed_then_finished_without_redoing(tmp_path):
    out = tmp_path / "tiny"
    _kill_mid_way(out)
    finished = _finished_runs(out)
    interrupted = _started_unfinished(out)
    assert finished and interrupted
    kept = _mtimes([out / "data", *[r / "checkpoints" for r in finished]])
    kept.update(_mtimes([r / "run.json" for r in finished]))
    reports = list(out.glob("eval/*/*/*/report.json"))
    already = len(finished) + 1 + len(reports)  # the finished runs, the store, evaluations

    status = _run(out, "--status", timeout=120)
    assert status.returncode == 0, status.stderr
    assert "done        collect/assault" in status.stdout
    assert "interrupted" in status.stdout  # the killed stage: its process is gone

    rerun = _run(out, *NO_PREFLIGHT)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{already} already finished" in rerun.stdout, rerun.stdout
    assert _mtimes(list(kept)) == kept, "a finished stage was redone"

    # The interrupted run resumed in place (its second attempt ran with --resume).
    for run in interrupted:
        log = out / "logs" / ("train." + ".".join(run.relative_to(out / "runs").parts) + ".log")
        attempts = [ln for ln in log.read_text().splitlines() if ln.startswith("==== ")]
        assert len(attempts) >= 2 and attempts[-1].endswith("--resume"), attempts

    result = json.loads((out / "aggregate" / "aggregate.json").read_text())
    assert result["evaluations"]["found"] == 2
    row = result["rows"]["next_frame_l1"]["variants"]["default"]["games"]["ALE/Assault-v5"]
    assert set(row["difference"]["seeds"]) == {"0", "1"}
    assert row["verdict"].startswith("jepa no better than encoder_decoder")  # 2 seeds < 5
    assert (out / "aggregate" / "aggregate.md").is_file()
    assert list((out / "aggregate" / "plots").glob("*.png"))

    again = _run(out, "--status", timeout=120)
    assert "10 stages: 10 done" in again.stdout
