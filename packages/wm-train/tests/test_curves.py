"""Learning curves: curves.png at the end of a fit, the series against samples seen, runs from
before samples were logged, and the command-line tool on several runs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wm_train.curves import CURVES_FILE, curves_figure, plot_curves, read_metrics, series
from wm_train.losses import ReconstructionLoss
from wm_train.testing import encoder_decoder_trainer

ROOT = Path(__file__).resolve().parents[3]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ed_run(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("curves") / "ed"
    encoder_decoder_trainer(
        tiny_store, run, loss=ReconstructionLoss(pixel_loss="mse"), curves=True
    ).fit()
    return run


def test_fit_writes_curves_png_and_series_run_on_samples_seen(ed_run: Path) -> None:
    png = ed_run / CURVES_FILE
    assert png.read_bytes()[:8] == PNG and png.stat().st_size > 10_000
    records = read_metrics(ed_run)
    xs, ys = series(records, "val/loss")
    windows = json.loads((ed_run / "run.json").read_text())["training"]["samples_per_epoch"]
    assert xs == [windows, 2 * windows] and len(ys) == 2
    base_x, _ = series(records, "val/copy_pixel_l1")
    assert base_x == xs
    train_x, _ = series(records, "train/loss")
    assert train_x == sorted(train_x) and train_x[-1] == 2 * windows


def test_runs_without_samples_seen_fall_back_to_steps(tmp_path: Path) -> None:
    run = tmp_path / "old"
    run.mkdir()
    lines = [
        {"step": 1, "train/loss": 0.5},
        {"step": 2, "train/loss": 0.4},
        {
            "step": 2,
            "epoch": 1,
            "train/epoch_loss": 0.45,
            "val/loss": 0.42,
            "val/baseline_loss": 0.3,
        },
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"step": 3')
    assert series(read_metrics(run), "train/loss") == ([1.0, 2.0], [0.5, 0.4])
    out = plot_curves([run], tmp_path / "old.png")
    assert out.read_bytes()[:8] == PNG


def load_tool():
    spec = importlib.util.spec_from_file_location("plot_curves", ROOT / "tools" / "plot_curves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_plots_several_runs_from_the_command_line(ed_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "both.png"
    argv = [str(ed_run), str(ed_run), "--label", "a", "--label", "b", "--out", str(out)]
    tool = str(ROOT / "tools" / "plot_curves.py")
    done = subprocess.run(
        [sys.executable, tool, *argv], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out) and out.read_bytes()[:8] == PNG


def test_tool_refuses_a_folder_without_metrics_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = load_tool().main([str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert code == 2 and "no metrics.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_many_runs_are_named_once_each_with_the_line_styles_keyed_once(ed_run: Path) -> None:
    names = [f"variant{i}" for i in range(12)]  # more runs than tab10 has colours
    fig = curves_figure([ed_run] * len(names), labels=names)
    for ax in fig.axes:
        shown = [t.get_text() for t in ax.get_legend().get_texts()]
        runs = [t for t in shown if t.startswith("variant")]
        assert runs == names, ax.get_title()  # each run once, in order
        styles = [t for t in shown if not t.startswith("variant")]
        assert len(styles) == len(set(styles))  # each style at most once
    objective = fig.axes[0]
    assert {"train", "validation", "copy baseline"} <= {
        t.get_text() for t in objective.get_legend().get_texts()
    }
    colours = {tuple(line.get_color()) for line in objective.lines if line.get_label() in names}
    assert len(colours) == len(names)  # no two runs share a colour
