"""Run discovery from run.json: derived runs as children or siblings, via init_from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wm_eval.runs import RunError, discover, read_run


def _run(path: Path, workflow: str, init_from: str | None = None, ckpt: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"workflow": workflow, "init_from": init_from}))
    if ckpt:
        (path / "checkpoints").mkdir()
        (path / "checkpoints" / "last.pt").write_bytes(b"")
    return path


def test_discovers_siblings_children_and_chains(tmp_path, monkeypatch):
    jepa = _run(tmp_path / "runs" / "jepa", "jepa")
    dec = _run(tmp_path / "runs" / "jepa_dec", "jepa_decoder", init_from=str(jepa))
    # relative to the working directory, and pointing at a checkpoint file
    monkeypatch.chdir(tmp_path)
    child = _run(jepa / "reward", "reward_predictor", "runs/jepa/checkpoints/last.pt")
    chained = _run(tmp_path / "runs" / "dyn", "dynamics_reward_predictor", str(dec))
    deep = _run(dec / "x" / "deep", "reward_predictor", str(dec))  # 3 levels below runs/
    _run(tmp_path / "runs" / "other", "encoder_decoder")
    (tmp_path / "runs" / "junk").mkdir()
    (tmp_path / "runs" / "junk" / "run.json").write_text("{not json")

    [info] = discover([jepa])
    assert {d.path for d in info.derived} == {dec.resolve(), child.resolve()}
    assert {d.path for d in info.all_derived()} == {dec, child, chained, deep}
    assert info.checkpoint == jepa / "checkpoints" / "last.pt"


def test_named_runs_are_not_each_others_derived(tmp_path):
    a = _run(tmp_path / "a", "jepa")
    b = _run(tmp_path / "b", "jepa_decoder", init_from=str(a))
    runs = discover([a, b])
    assert runs[0].derived == [] and runs[1].path == b.resolve()


def test_cycles_terminate(tmp_path):
    a = _run(tmp_path / "a", "jepa", init_from=str(tmp_path / "b"))
    _run(tmp_path / "b", "jepa_decoder", init_from=str(a))
    [info] = discover([a])
    assert [d.name for d in info.all_derived()] == ["b"]


def test_read_run_errors_name_the_problem(tmp_path):
    with pytest.raises(RunError, match="not a directory"):
        read_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"no run\.json"):
        read_run(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text(json.dumps({"init_from": None}))
    with pytest.raises(RunError, match="'workflow'"):
        read_run(tmp_path / "bad")
    no_ckpt = _run(tmp_path / "c", "jepa", ckpt=False)
    assert read_run(no_ckpt).checkpoint is None


def test_data_paths_relative_to_run(tmp_path):
    run = _run(tmp_path / "proj" / "runs" / "jepa", "jepa")
    (tmp_path / "proj" / "data").mkdir()
    (tmp_path / "proj" / "data" / "s.h5").write_bytes(b"")
    meta = json.loads((run / "run.json").read_text())
    meta["data"] = {"paths": ["data/s.h5"], "context": 4}
    (run / "run.json").write_text(json.dumps(meta))
    assert read_run(run).data_paths() == [str(tmp_path / "proj" / "data" / "s.h5")]
