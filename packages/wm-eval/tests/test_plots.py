"""Figures: a legend never hides the curves it names."""

from __future__ import annotations

import imageio.v2 as imageio

from wm_eval.plots import LEGEND_INSIDE_AT_MOST, line_plot


def _plot(path, n_curves: int):
    curves = {
        f"run · baseline {i}": ([1, 2, 3], [1.0 + i, 2.0 + i, 3.0 + i]) for i in range(n_curves)
    }
    line_plot(curves, path, xlabel="k", ylabel="error", title="t", dashed=set(curves), logy=True)
    return imageio.imread(path)


def test_a_legend_of_many_curves_goes_beside_the_axes(tmp_path):
    few = _plot(tmp_path / "few.png", 3)
    many = _plot(tmp_path / "many.png", LEGEND_INSIDE_AT_MOST + 12)
    assert few.shape[:2] == (400, 600)  # the legend inside, the figure at its usual size
    assert many.shape[1] > few.shape[1] + 50  # widened by the legend beside the axes
