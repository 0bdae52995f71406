"""Fault injection for wm-eval: corrupt, untrusted and missing inputs and bad configuration.

Each failure is one line on stderr with exit code 2, no traceback; the runs are left as they
were and no report folder is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wm_eval.cli import main
from wm_models.testing import edit_recorded_kwargs, plant_pickle, truncate

SMALL_BINDINGS = [
    "EvalConfig.device = 'cpu'",
    "EvalConfig.max_samples = 48",
    "EvalConfig.probes = ('representation',)",
]


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(run: Path, out: Path, *bindings: str) -> list[str]:
    argv = ["--run", str(run), "--out", str(out)]
    for binding in [*SMALL_BINDINGS, *bindings]:
        argv += ["--bind", binding]
    return argv


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("wm-eval: "), err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.fixture
def jepa(runs: dict[str, Path], tmp_path: Path) -> Path:
    """A copy of the JEPA run that a test may damage."""
    return Path(shutil.copytree(runs["jepa"], tmp_path / "jepa"))


# ---------------------------------------------------------------- corrupt and untrusted files


def _truncate(path: Path) -> str:
    truncate(path)
    return "not a torch checkpoint"


def _not_torch(path: Path) -> str:
    path.write_text("not a checkpoint at all\n")
    return "not a torch checkpoint"


def _pickle_bearing(path: Path) -> str:
    plant_pickle(path, path.parent / "EXECUTED")
    return "weights_only=True"


def _other_architecture(path: Path) -> str:
    edit_recorded_kwargs(path, "predictor", hidden_dim=48)  # weights are for 32
    return "role 'predictor'"


@pytest.mark.parametrize("damage", [_truncate, _not_torch, _pickle_bearing, _other_architecture])
def test_bad_checkpoint_is_refused_in_one_line(damage, jepa: Path, tmp_path: Path, capsys) -> None:
    needle = damage(jepa / "checkpoints" / "best.pt")
    before = snapshot(jepa)
    code = main(run_cli(jepa, tmp_path / "out"))
    assert_one_line_error(code, capsys.readouterr().err, "best.pt", needle)
    assert snapshot(jepa) == before
    assert not (jepa / "checkpoints" / "EXECUTED").exists()
    assert not (tmp_path / "out" / "report.md").exists()


def _not_hdf5(store: Path, folder: Path) -> Path:
    bad = folder / "notes.h5"
    bad.write_text("my notes\n")
    return bad


def _truncated_store(store: Path, folder: Path) -> Path:
    bad = folder / "cut.h5"
    bad.write_bytes(store.read_bytes()[: store.stat().st_size // 3])
    return bad


def _missing_store(store: Path, folder: Path) -> Path:
    return folder / "gone.h5"


@pytest.mark.parametrize("make_store", [_not_hdf5, _truncated_store, _missing_store])
def test_bad_store_is_named_in_one_line(
    make_store, jepa: Path, store: Path, tmp_path: Path, capsys
) -> None:
    bad = make_store(store, tmp_path)
    info = json.loads((jepa / "run.json").read_text())
    info["data"]["paths"] = [str(bad)]
    (jepa / "run.json").write_text(json.dumps(info))
    before = snapshot(jepa)
    code = main(run_cli(jepa, tmp_path / "out"))
    assert_one_line_error(code, capsys.readouterr().err, bad.name)
    assert snapshot(jepa) == before
    assert not (tmp_path / "out" / "report.md").exists()


# ---------------------------------------------------------------- bad configuration


@pytest.mark.parametrize(
    ("binding", "needles"),
    [
        ("EvalConfig.max_sample = 10", ["max_sample", "Did you mean 'max_samples'?"]),
        ("EvalConfg.max_samples = 10", ["EvalConfg", "Did you mean 'EvalConfig'?"]),
        ("EvalConfig.probes = ('representaton',)", ["representaton", "representation"]),
    ],
)
def test_bad_binding_fails_before_any_work(
    binding: str, needles: list[str], jepa: Path, tmp_path: Path, capsys
) -> None:
    code = main(run_cli(jepa, tmp_path / "out", binding))
    assert_one_line_error(code, capsys.readouterr().err, *needles)
    assert not (tmp_path / "out").exists()


def test_missing_run_names_the_closest_one(jepa: Path, tmp_path: Path, capsys) -> None:
    code = main(run_cli(tmp_path / "jepaa", tmp_path / "out"))
    assert_one_line_error(code, capsys.readouterr().err, "jepaa", "Did you mean 'jepa'?")
    assert not (tmp_path / "out").exists()


def test_the_installed_command_exits_with_one_line(jepa: Path, tmp_path: Path) -> None:
    argv = run_cli(jepa, tmp_path / "out", "EvalConfig.max_sample = 10")
    result = subprocess.run(
        [sys.executable, "-m", "wm_eval", *argv], capture_output=True, text=True, timeout=120
    )
    assert_one_line_error(result.returncode, result.stderr, "Did you mean 'max_samples'?")
