"""wm-eval with bad input, through its real command line: a misspelled macro, configurable or
parameter, or a setting out of its range, is one line on stderr (``wm-eval: error: ...``) with
exit code 2, a did-you-mean where a name was close, and no file or folder created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wm_eval.cli import main

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
EVAL_GIN = CONFIGS / "eval.gin"
WM_EVAL = Path(sys.executable).parent / "wm-eval"

pytestmark = pytest.mark.skipif(not EVAL_GIN.exists(), reason="runs from a repository checkout")


def folder_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under ``folder`` (hidden ones too) with its mtime and contents."""
    state = {".": (folder.stat().st_mtime_ns, b"")}
    for p in sorted(folder.rglob("*")):
        data = p.read_bytes() if p.is_file() else b""
        state[str(p.relative_to(folder))] = (p.stat().st_mtime_ns, data)
    return state


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, f"exit code {code}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("wm-eval: error: "), err
    assert "In call to configurable" not in lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def eval_argv(run: Path, out: Path, *bindings: str) -> list[str]:
    argv = ["--gin", str(EVAL_GIN), "--run", str(run), "--out", str(out)]
    for binding in ("DEVICE = 'cpu'", *bindings):
        argv += ["--bind", binding]
    return argv


@pytest.mark.parametrize(
    ("binding", "needles"),
    [
        ("MAX_SAMPLE = 10", ["'MAX_SAMPLE'", "Did you mean 'MAX_SAMPLES'?"]),
        ("EvalConfg.max_samples = 10", ["'EvalConfg'", "Did you mean 'EvalConfig'?"]),
        ("EvalConfig.max_sample = 10", ["'max_sample'", "Did you mean 'max_samples'?"]),
        ("eval_outpt.out_dir = 'x'", ["'eval_outpt'", "Did you mean 'eval_output'?"]),
        ("MAX_SAMPLES = 0", ["EvalConfig.max_samples = 0", "must be an int >= 1"]),
        ("MAX_SAMPLES = -5", ["EvalConfig.max_samples = -5", ">= 1"]),
        ("NEIGHBOUR_SAMPLES = 0", ["EvalConfig.neighbour_samples = 0", ">= 1"]),
        ("K_NEIGHBOURS = 0", ["EvalConfig.n_neighbors = 0", ">= 1"]),
        ("ROLLOUT_HORIZON = 0", ["EvalConfig.rollout_horizon = 0", ">= 1"]),
        ("SEED = -1", ["EvalConfig.seed = -1", ">= 0"]),
        ("EvalConfig.batch_size = 2.5", ["EvalConfig.batch_size = 2.5", "an int"]),
        ("EvalConfig.working_memory_mib = 0", ["EvalConfig.working_memory_mib = 0", ">= 1"]),
        ("EvalConfig.ram_top_bytes = 0", ["EvalConfig.ram_top_bytes = 0", ">= 1"]),
        ("EvalConfig.grid_samples = -1", ["EvalConfig.grid_samples = -1", ">= 0"]),
        ("EvalConfig.gif_samples = -1", ["EvalConfig.gif_samples = -1", ">= 0"]),
        ("EvalConfig.random_encoder_seed = -1", ["EvalConfig.random_encoder_seed", ">= 0"]),
        ("EvalConfig.noise_samples = 0", ["EvalConfig.noise_samples = 0", ">= 1"]),
        ("EvalConfig.probe_train_samples = 0", ["EvalConfig.probe_train_samples", ">= 1"]),
        ("EvalConfig.noise_sigmas = (0.1, -0.1)", ["EvalConfig.noise_sigmas", ">= 0"]),
        ("EvalConfig.split = 'tset'", ["EvalConfig.split = 'tset'", "Did you mean 'test'?"]),
        ("EvalConfig.pixel_space = 'contxt'", ["EvalConfig.pixel_space", "'context'?"]),
        ("EvalConfig.probes = ('representaton',)", ["EvalConfig.probes", "'representation'?"]),
        ("EvalConfig.probes = 'reward'", ["EvalConfig.probes = 'reward'", "a tuple"]),
    ],
)
def test_bad_input_is_refused_in_one_line_and_creates_nothing(
    binding: str, needles: list[str], runs: dict[str, Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # eval_output.out_dir ('eval') would land here
    run_before = folder_state(runs["jepa"])
    before = folder_state(tmp_path)
    code = main(eval_argv(runs["jepa"], tmp_path / "out", binding))
    assert_one_line_error(code, capsys.readouterr().err, *needles)
    assert folder_state(tmp_path) == before, "a refused evaluation created files"
    assert folder_state(runs["jepa"]) == run_before


def test_out_that_is_a_file_is_refused(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    (tmp_path / "out").write_text("not a folder")
    before = folder_state(tmp_path)
    code = main(eval_argv(runs["jepa"], tmp_path / "out"))
    assert_one_line_error(code, capsys.readouterr().err, "--out", "not a folder")
    assert folder_state(tmp_path) == before


@pytest.mark.skipif(not WM_EVAL.exists(), reason="needs the installed wm-eval script")
@pytest.mark.parametrize(
    ("binding", "needles"),
    [
        ("MAX_SAMPLE = 10", ["'MAX_SAMPLE'", "Did you mean 'MAX_SAMPLES'?"]),
        ("MAX_SAMPLES = 0", ["EvalConfig.max_samples = 0", ">= 1"]),
    ],
)
def test_installed_wm_eval_refuses_bad_input_and_creates_nothing(
    binding: str, needles: list[str], runs: dict[str, Path], tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(WM_EVAL), *eval_argv(runs["jepa"], tmp_path / "out", binding)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert_one_line_error(result.returncode, result.stderr, *needles)
    assert list(tmp_path.iterdir()) == []
