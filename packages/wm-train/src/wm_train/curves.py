"""Learning curves from ``metrics.jsonl``: training and validation loss against samples seen, beside
the do-nothing baseline, so a run that has not converged (or never beat copying) shows at once.

``plot_curves([run, ...], out)`` draws one figure for one run or several (one colour each, named
once in the legend, with the line styles keyed in black):

- the training objective: ``train/loss`` (every logged step), ``val/loss`` per epoch and the
  copy baseline of the same loss (``val/baseline_loss``, dashed);
- where logged, the next frame's whole-frame L1 (``val/pixel_l1``) beside copying the last
  frame (``val/copy_pixel_l1``), the figure that compares runs trained with different losses;
- where logged, the latent's effective rank (``val/collapse/effective_rank``).

The x axis is ``samples_seen`` (training windows drawn); runs from before it was logged fall
back to optimiser steps. matplotlib is needed (``pip install 'wm-train[plots]'``); pyplot is not
used, so plotting never changes a process's backend.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wm_core import atomic_write
from wm_core.run_format import METRICS_FILE
from wm_train.callbacks import Callback

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from wm_train.train_state import TrainState

__all__ = [
    "CURVES_FILE",
    "LearningCurves",
    "curves_figure",
    "plot_curves",
    "read_metrics",
    "series",
]

CURVES_FILE = "curves.png"

#: (title, [(metric, style)]) of each panel; a panel no run logs is left out.
PANELS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "training objective",
        [("train/loss", "train"), ("val/loss", "val"), ("val/baseline_loss", "baseline")],
    ),
    (
        "next-frame whole-frame L1",
        [("train/pixel_l1", "train"), ("val/pixel_l1", "val"), ("val/copy_pixel_l1", "baseline")],
    ),
    ("latent effective rank (validation)", [("val/collapse/effective_rank", "val")]),
]
STYLES: dict[str, dict[str, Any]] = {
    "train": {"linewidth": 0.8, "alpha": 0.45},
    "val": {"linewidth": 1.6, "marker": "o", "markersize": 3},
    "baseline": {"linewidth": 1.2, "linestyle": "--"},
}
LABELS = {"train": "train", "val": "validation", "baseline": "copy baseline"}


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every record of a run's metrics.jsonl (a line cut short by a crash is skipped)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {METRICS_FILE} (is it a wm-train run directory?)")
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def x_key(records: Sequence[dict[str, Any]]) -> str:
    """``samples_seen`` when the run logged it, else ``step``."""
    return "samples_seen" if any("samples_seen" in r for r in records) else "step"


def series(records: Sequence[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    """(x, y) of one metric over a run, in logging order; non-finite values dropped."""
    key = x_key(records)
    xs, ys = [], []
    for record in records:
        value = record.get(metric)
        finite = isinstance(value, (int, float)) and math.isfinite(value)
        if finite and key in record:
            xs.append(float(record[key]))
            ys.append(float(value))
    return xs, ys


def plot_curves(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Draw the learning curves of ``run_dirs`` into the PNG ``out``; returns its path."""
    fig = curves_figure(run_dirs, labels=labels, title=title)
    return atomic_write(out, lambda handle: fig.savefig(handle, format="png", dpi=110), fsync=False)


def curves_figure(
    run_dirs: Sequence[str | Path],
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The figure ``plot_curves`` saves (a matplotlib ``Figure``, no pyplot state)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not run_dirs:
        raise ValueError("plot_curves: give at least one run directory")
    runs = [read_metrics(r) for r in run_dirs]
    names = list(labels) if labels else [_label(Path(r)) for r in run_dirs]
    panels = [(t, ms) for t, ms in PANELS if any(series(rec, m)[0] for rec in runs for m, _ in ms)]
    if not panels:
        raise ValueError(f"plot_curves: no loss logged yet in {', '.join(map(str, run_dirs))}")
    fig = Figure(figsize=(5.0 * len(panels), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    keys = {x_key(rec) for rec in runs}
    xlabel = "samples seen" if keys == {"samples_seen"} else "samples seen / optimiser steps"
    palette = "tab20" if len(runs) > 10 else "tab10"
    colours = [matplotlib.colormaps[palette](i % 20) for i in range(len(runs))]
    for ax, (panel_title, metrics) in zip(axes, panels, strict=True):
        styles = []
        for records, name, colour in zip(runs, names, colours, strict=True):
            named = False
            for metric, style in metrics:
                xs, ys = series(records, metric)
                if not xs:
                    continue
                if len(runs) == 1:  # one run: the legend names the lines
                    label = LABELS[style]
                else:  # several: each run once by colour, each style once in black (below)
                    label, named = (None if named else name), True
                    styles += [style] if style not in styles else []
                ax.plot(xs, ys, color=colour, label=label, **STYLES[style])
        for style in styles if len(styles) > 1 else ():
            ax.plot([], [], color="black", label=LABELS[style], **STYLES[style])
        ax.set_title(panel_title)
        ax.set_xlabel(xlabel)
        if "rank" not in panel_title and all(y > 0 for line in ax.lines for y in line.get_ydata()):
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6 if len(runs) > 6 else 7, ncol=2 if len(runs) > 6 else 1)
    if title:
        fig.suptitle(title)
    return fig


def _label(run: Path) -> str:
    """A run's name in a legend: its folder, with the parent for derived runs."""
    return f"{run.parent.name}/{run.name}" if run.parent.name else run.name


class LearningCurves(Callback):
    """Writes ``curves.png`` into the run directory when ``fit`` ends (main rank; skipped with a
    warning where matplotlib is missing or the plot fails: a figure never fails a run)."""

    def on_fit_end(self, state: TrainState, metrics: dict[str, float]) -> None:
        if not self.fit.dist.is_main:
            return
        try:
            plot_curves([self.fit.run.path], self.fit.run.path / CURVES_FILE)
        except ImportError:
            warnings.warn(
                "wm-train: no curves.png (matplotlib is not installed: pip install "
                "'wm-train[plots]')",
                RuntimeWarning,
                stacklevel=2,
            )
        except (OSError, ValueError) as exc:
            warnings.warn(f"wm-train: no curves.png: {exc}", RuntimeWarning, stacklevel=2)
