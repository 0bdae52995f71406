"""Figures (matplotlib, Agg backend) and decoded-rollout GIFs (imageio)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import imageio.v2 as imageio
import matplotlib.pyplot as plt
import numpy as np

LEGEND_INSIDE_AT_MOST = 6  # more curves than this: the legend goes beside the axes


def line_plot(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    dashed: set[str] | frozenset[str] = frozenset(),
    logy: bool = False,
    integer_x: bool = False,
) -> Path:
    """One line per model; baselines dashed, in the colour of the model they belong to
    (``"<model> · <baseline>"``), one marker per kind of baseline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    outside = len(curves) > LEGEND_INSIDE_AT_MOST  # a legend that would hide the lines
    fig, ax = plt.subplots(figsize=(6, max(4.0, 0.18 * len(curves))) if outside else (6, 4))
    colours: dict[str, str] = {}
    markers: dict[str, str] = {"": "o"}
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for label, (x, y) in curves.items():
        y = [np.nan if v is None else v for v in y]
        owner, _, kind = label.partition(" · ")
        colour = colours.setdefault(owner, cycle[len(colours) % len(cycle)])
        marker = markers.setdefault(kind, "osv^xDP"[len(markers) % 7])
        style = "--" if label in dashed else "-"
        ax.plot(x, y, style, marker=marker, label=label, color=colour)
    if logy and all(v is not None and v > 0 for _, ys in curves.values() for v in ys):
        ax.set_yscale("log")
    if integer_x:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if outside:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    else:
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def bar_plot(
    values: Mapping[str, Mapping[str, float | None]],
    path: Path,
    *,
    ylabel: str,
    title: str,
) -> Path:
    """Grouped bars: one group per row name, one bar per column (model)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(values)
    cols = list(dict.fromkeys(c for r in rows for c in values[r]))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows) * max(1, len(cols)) / 2), 4))
    width = 0.8 / max(1, len(cols))
    x = np.arange(len(rows))
    for i, c in enumerate(cols):
        ys = [values[r].get(c) for r in rows]
        ax.bar(x + i * width, [np.nan if v is None else v for v in ys], width, label=c)
    ax.set_xticks(x + 0.4 - width / 2, rows, rotation=45, ha="right", fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def image_grid(
    rows: Sequence[Sequence[np.ndarray]],
    headers: Sequence[str],
    path: Path,
    *,
    title: str = "",
) -> Path:
    """A grid of [C, H, W] images in [0, 1] (one row per sample), with column headers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n_rows, n_cols = len(rows), len(headers)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(1.4 * n_cols, 1.4 * n_rows + 0.4), squeeze=False
    )
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            ax = axes[i][j]
            ax.imshow(to_hwc(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(headers[j], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def reconstruction_grid(
    last: np.ndarray,
    true: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    regions: np.ndarray,
    path: Path,
    *,
    title: str = "",
) -> Path:
    """One row per window: last context frame, true next frame, each output with its absolute
    error, and the object regions over the true frame. Every frame shares one grey scale and
    every error one colour scale (both printed in the title), so columns compare directly.

    ``last``, ``true`` and each output are ``[N, C, H, W]`` in [0, 1]; ``regions`` ``[N, H, W]``.
    A decoder that draws only the background looks like the mean-frame column beside it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    errors = {k: np.abs(np.asarray(v, np.float32) - true) for k, v in outputs.items()}
    vmax = max(0.05, *(float(e.max()) for e in errors.values()))
    shown = [last, true, *outputs.values()]
    gmax = max(0.05, *(float(np.max(x)) for x in shown))  # one grey scale for every frame
    heads = ["last context", "true next"]
    for name in outputs:
        heads += [_wrap(name), "|error|"]
    heads.append("object regions")
    magma = plt.get_cmap("magma")
    rows = []
    for i in range(len(true)):
        cells = [_grey(last[i], gmax), _grey(true[i], gmax)]
        for name, pred in outputs.items():
            cells += [
                _grey(pred[i], gmax),
                magma(np.clip(errors[name][i].max(axis=0) / vmax, 0, 1))[..., :3],
            ]
        cells.append(_overlay(np.clip(true[i] / gmax, 0, 1), regions[i]))
        rows.append(cells)
    # One image of every cell (a white gap between them): one axes to lay out and draw.
    mosaic, centres = _mosaic(rows)
    fig_w = 1.3 * len(heads)
    image_h = fig_w * mosaic.shape[0] / mosaic.shape[1]
    fig = plt.figure(figsize=(fig_w, image_h + 0.9))  # 0.9 in for the title and headers
    ax = fig.add_axes((0.0, 0.0, 1.0, image_h / (image_h + 0.9)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_yticks([])
    ax.xaxis.tick_top()
    ax.set_xticks(centres, heads, fontsize=6)
    ax.tick_params(length=0, pad=1)
    for spine in ax.spines.values():
        spine.set_visible(False)
    scales = f"frames: grey 0 to {gmax:.2f}; |error|: colour 0 to {vmax:.2f}"
    fig.suptitle(f"{title}\n{scales}".strip(), fontsize=8, y=0.995)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _grey(img: np.ndarray, top: float) -> np.ndarray:
    """A [C, H, W] frame as [H, W, 3] on a grey scale from 0 to ``top``."""
    x = to_hwc(np.asarray(img, np.float32) / top)
    return np.repeat(x[..., None], 3, axis=-1) if x.ndim == 2 else x


def _mosaic(rows: Sequence[Sequence[np.ndarray]], gap: int = 2) -> tuple[np.ndarray, list[float]]:
    """Equal-sized [H, W, 3] cells as one image with white gaps; the centre x of each column."""
    h, w = rows[0][0].shape[:2]
    n_rows, n_cols = len(rows), len(rows[0])
    out = np.ones((n_rows * (h + gap) - gap, n_cols * (w + gap) - gap, 3), dtype=np.float32)
    for i, cells in enumerate(rows):
        for j, cell in enumerate(cells):
            out[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = cell
    return out, [j * (w + gap) + (w - 1) / 2 for j in range(n_cols)]


def _wrap(text: str, width: int = 16) -> str:
    parts, line = [], ""
    for word in text.replace("/", "/ ").split(" "):
        if line and len(line) + len(word) > width:
            parts.append(line.rstrip())
            line = ""
        line += word + ("" if word.endswith("/") else " ")
    return "\n".join([*parts, line.rstrip()])


def _overlay(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """An image as RGB with ``mask`` tinted red."""
    x = to_hwc(img)
    rgb = np.repeat(x[..., None], 3, axis=-1) if x.ndim == 2 else x.copy()
    rgb[mask] = 0.5 * rgb[mask] + 0.5 * np.array([1.0, 0.0, 0.0])
    return rgb


def to_hwc(img: np.ndarray) -> np.ndarray:
    """[C, H, W] -> [H, W] (grayscale) or [H, W, 3]; clipped to [0, 1]."""
    img = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
    if img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)
    return img


def rollout_gif(
    true: np.ndarray, pred: np.ndarray, path: Path, *, scale: int = 4, fps: int = 4
) -> Path:
    """Animate ``[S, K, C, H, W]`` true (top row) against predicted (bottom row) frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for k in range(true.shape[1]):
        top = np.concatenate([to_gray_or_rgb(t) for t in true[:, k]], axis=1)
        bottom = np.concatenate([to_gray_or_rgb(p) for p in pred[:, k]], axis=1)
        img = np.concatenate([top, bottom], axis=0)
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
        frames.append((img * 255).round().astype(np.uint8))
    imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
    return path


def to_gray_or_rgb(img: np.ndarray) -> np.ndarray:
    """[C, H, W] in [0, 1] -> [H, W, 3] with a one-pixel separator on the right and bottom."""
    x = to_hwc(img)
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
    return np.pad(x, ((0, 1), (0, 1), (0, 0)), constant_values=1.0)
