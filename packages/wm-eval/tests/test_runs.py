"""Run discovery through wm-core's run format: derived runs as children or siblings, via
init_from resolved by ``wm_core.resolve_init_from``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wm_core import RunFormatError, RunManifest, read_manifest, write_manifest
from wm_eval.runs import RunError, discover, read_run


def _run(path: Path, workflow: str, init_from: str | None = None, ckpt: bool = True) -> Path:
    path.mkdir(parents=True)
    write_manifest(path, RunManifest(workflow=workflow, init_from=init_from))
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
    (tmp_path / "runs" / "junk" / "run.json").write_text("{not json")  # damaged on purpose

    [info] = discover([jepa])
    assert {d.path for d in info.derived} == {dec.resolve(), child.resolve()}
    assert {d.path for d in info.all_derived()} == {dec, child, chained, deep}
    assert info.checkpoint == jepa / "checkpoints" / "last.pt"


def test_init_from_relative_to_the_recording_run(tmp_path, monkeypatch):
    """wm-core's rule: a relative init_from is tried from the working directory, then from the
    run that recorded it and each of its parents."""
    monkeypatch.chdir(tmp_path)
    jepa = _run(tmp_path / "proj" / "runs" / "jepa", "jepa")
    dec = _run(tmp_path / "proj" / "runs" / "dec", "jepa_decoder", init_from="runs/jepa")
    [info] = discover([jepa])
    assert [d.path for d in info.derived] == [dec.resolve()]


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
    # a malformed manifest cannot be written through RunManifest: written by hand on purpose
    (tmp_path / "bad" / "run.json").write_text(json.dumps({"init_from": None}))
    with pytest.raises(RunError, match="'workflow'") as caught:
        read_run(tmp_path / "bad")
    assert isinstance(caught.value, RunFormatError)
    no_ckpt = _run(tmp_path / "c", "jepa", ckpt=False)
    assert read_run(no_ckpt).checkpoint is None


def test_version_zero_manifest_keeps_its_reward_source(tmp_path):
    """Runs written before the versioned format kept reward_source at the top level."""
    run = tmp_path / "old"
    run.mkdir()
    old = {"workflow": "reward_predictor", "reward_source": "true", "data": {"context": 4}}
    (run / "run.json").write_text(json.dumps(old))  # a version-0 file, as older wm-train wrote
    info = read_run(run)
    assert isinstance(info.meta, RunManifest)
    assert info.reward_source == "true" and info.meta.loss["reward_source"] == "true"
    assert info.workflow == "reward_predictor" and info.data == {"context": 4}


def test_data_paths_relative_to_run(tmp_path):
    run = _run(tmp_path / "proj" / "runs" / "jepa", "jepa")
    (tmp_path / "proj" / "data").mkdir()
    (tmp_path / "proj" / "data" / "s.h5").write_bytes(b"")
    manifest = read_manifest(run)
    manifest.data = {"paths": ["data/s.h5"], "context": 4}
    write_manifest(run, manifest)
    assert read_run(run).data_paths() == [str(tmp_path / "proj" / "data" / "s.h5")]
