"""One run-directory format, read and written by the same code, versioned, one init_from rule."""

from __future__ import annotations

import json

import pytest

from wm_core import (
    ModuleRecord,
    RunFormatError,
    RunManifest,
    checkpoint_path,
    read_manifest,
    resolve_init_from,
    write_manifest,
)
from wm_core.run_format import VERSION


def make_run(path, workflow="jepa", **fields):
    write_manifest(path, RunManifest(workflow=workflow, **fields))
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    (path / "checkpoints" / "best.pt").write_bytes(b"x")
    return path


def test_manifest_round_trips_with_module_records(tmp_path) -> None:
    manifest = RunManifest(
        workflow="reward_predictor",
        status="finished",
        init_from="/runs/jepa",
        modules={
            "encoder": ModuleRecord(name="conv", kind="encoder", source="/runs/jepa"),
            "reward_head": ModuleRecord(
                name="mlp", kind="reward_head", trained=True, sizes={"latent_dim": 64}
            ),
        },
        data={"paths": ["/data/a"], "env_id": "ALE/Assault-v5"},
        loss={"name": "reward", "reward_source": "predicted"},
        latent_dim=64,
        epochs_done=3,
    )
    write_manifest(tmp_path, manifest)
    raw = json.loads((tmp_path / "run.json").read_text())
    assert raw["format"] == "wm-run" and raw["version"] == VERSION
    back = read_manifest(tmp_path)
    assert back == manifest and back.reward_source == "predicted"


def test_version_zero_files_still_read(tmp_path) -> None:
    old = {
        "workflow": "reward_predictor",
        "init_from": None,
        "modules": {"encoder": {"trained": False, "source": "built"}},
        "reward_source": "true",
        "status": "finished",
        "something_else": 1,
    }
    (tmp_path / "run.json").write_text(json.dumps(old))
    manifest = read_manifest(tmp_path)
    assert manifest.reward_source == "true" and manifest.modules["encoder"].name is None
    assert manifest.extra == {"something_else": 1}
    assert manifest.to_dict()["something_else"] == 1  # unknown fields survive a rewrite


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "cannot read"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"status": "finished"}', "no 'workflow' field"),
        ('{"workflow": "j", "format": "other"}', "format is 'other'"),
        ('{"workflow": "j", "format": "wm-run", "version": 99}', "newer than this wm-core"),
        ('{"workflow": "j", "status": "paused"}', "status 'paused'"),
    ],
)
def test_bad_manifests_are_named(tmp_path, content, needle) -> None:
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(RunFormatError, match=needle):
        read_manifest(tmp_path)


def test_a_folder_without_a_manifest_is_not_a_run(tmp_path) -> None:
    with pytest.raises(RunFormatError, match=r"no run\.json"):
        read_manifest(tmp_path)


def test_checkpoint_falls_back_between_best_and_last(tmp_path) -> None:
    run = make_run(tmp_path / "r")
    assert checkpoint_path(run, "best").name == "best.pt"
    assert checkpoint_path(run, "last").name == "best.pt"  # the other one when missing
    assert checkpoint_path(tmp_path, "best") is None
    with pytest.raises(ValueError, match="one of"):
        checkpoint_path(run, "first")


def test_init_from_resolves_a_run_a_file_or_a_path_relative_to_the_recording_run(
    tmp_path, monkeypatch
) -> None:
    jepa = make_run(tmp_path / "runs" / "jepa")
    assert resolve_init_from(jepa) == (jepa.resolve(), (jepa / "checkpoints/best.pt").resolve())
    file = jepa / "checkpoints" / "best.pt"
    assert resolve_init_from(file)[0] == jepa.resolve()
    monkeypatch.chdir(tmp_path / "runs")
    assert resolve_init_from("jepa")[0] == jepa.resolve()  # relative to the working directory
    monkeypatch.chdir(tmp_path)
    derived = make_run(jepa / "jepa_decoder")
    # a relative record is also found from the run that wrote it and its parents
    assert resolve_init_from("jepa", base=derived)[0] == jepa.resolve()


def test_a_missing_run_names_the_runs_beside_it(tmp_path) -> None:
    make_run(tmp_path / "jepa")
    make_run(tmp_path / "encoder_decoder")
    with pytest.raises(FileNotFoundError) as info:
        resolve_init_from(tmp_path / "jepaa")
    msg = str(info.value)
    assert "Trainer.init_from" in msg and "Runs beside it: encoder_decoder, jepa" in msg
    assert "Did you mean 'jepa'?" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no checkpoints/best\.pt"):
        resolve_init_from(tmp_path / "empty")


def test_a_relative_record_follows_the_run_when_its_folder_moves(tmp_path, monkeypatch) -> None:
    moved = tmp_path / "results" / "runs"
    jepa = make_run(moved / "jepa")
    derived = make_run(jepa / "reward_predictor", init_from="..")
    (tmp_path / "elsewhere" / "jepa").mkdir(parents=True)  # a same-named folder that is no run
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert resolve_init_from("..", base=derived)[0] == jepa.resolve()
    assert resolve_init_from("jepa", base=derived)[0] == jepa.resolve()
