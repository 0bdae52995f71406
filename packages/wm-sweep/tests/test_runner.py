"""The job function: a stage that fails once is reported with its log, and the rerun finishes
it; a finished stage is not run again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wm_sweep.runner import StageFailed, run_stage
from wm_sweep.stages import Stage, read_state, stage_done
from wm_sweep.status import stage_status

# Fails on its first attempt (no marker yet), writes report.json on the second.
SCRIPT = """
import pathlib, sys
out = pathlib.Path(sys.argv[1])
marker = out / "attempted"
if not marker.exists():
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text("1")
    print("probe rollout: no windows as long as the horizon", file=sys.stderr)
    sys.exit(3)
(out / "report.json").write_text("{}")
print("wrote report")
"""


def _stage(tmp_path: Path) -> Stage:
    script = tmp_path / "flaky.py"
    script.write_text(SCRIPT)
    return Stage(
        id="eval/assault/default/seed0",
        kind="eval",
        command=[sys.executable, str(script), "eval/seed0"],
        deps=[],
        output="eval/seed0",
        cwd=str(tmp_path),
        log="logs/eval.log",
        state=".sweep/state/eval.json",
    )


def test_fails_once_then_finishes(tmp_path):
    stage = _stage(tmp_path)
    with pytest.raises(StageFailed, match=r"exit code 3.*no windows as long as the horizon"):
        run_stage(stage.to_dict())
    state = read_state(stage)
    assert state.status == "failed" and state.returncode == 3
    status, detail = stage_status(stage)
    assert status == "failed" and "exit code 3" in detail
    assert not stage_done(stage)

    assert run_stage(stage.to_dict()) == {"stage": stage.id, "status": "finished", "skipped": False}
    assert stage_done(stage) and read_state(stage).status == "finished"
    assert stage_status(stage)[0] == "done"
    log = (tmp_path / "logs" / "eval.log").read_text()
    assert log.count("==== ") == 2 and "wrote report" in log

    report = tmp_path / "eval" / "seed0" / "report.json"
    before = report.stat().st_mtime_ns
    assert run_stage(stage.to_dict())["skipped"] is True
    assert report.stat().st_mtime_ns == before


def test_missing_command_is_a_failure_not_a_crash(tmp_path):
    stage = _stage(tmp_path)
    stage.command = ["wm-no-such-command"]
    with pytest.raises(StageFailed, match="exit code 127"):
        run_stage(stage.to_dict())
