"""Interval plots drawn as rliable draws them: one panel per metric, one horizontal bar per
estimate spanning its interval, a dark tick at the point estimate."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from wm_core import atomic_write
from wm_sweep.spec import OBJECTIVES

__all__ = ["write_plots"]

COLOURS = {"jepa": "#1f77b4", "encoder_decoder": "#ff7f0e", "difference": "#555555"}
Bar = tuple[str, dict[str, Any] | None, str]  # label, estimate, colour


def _bars(ax: Any, bars: list[Bar], reference: float | None, title: str) -> None:
    """rliable's ``plot_interval_estimates`` panel: bars low-high, a tick at the value."""
    for i, (_, est, colour) in enumerate(bars):
        if not est or est.get("value") is None:
            continue
        value, low, high = est["value"], est.get("low"), est.get("high")
        if low is not None and high is not None:
            ax.barh(i, high - low, left=low, height=0.6, color=colour, alpha=0.75)
        ax.vlines(value, i - 0.3, i + 0.3, color="k", linewidth=1.5)
    if reference is not None:
        ax.axvline(reference, color="k", linestyle="--", linewidth=0.8, alpha=0.6)
    ax.margins(x=0.12)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels([b[0] for b in bars], fontsize=8)
    ax.set_ylim(-0.6, len(bars) - 0.4)
    ax.invert_yaxis()
    ax.set_title(textwrap.fill(title, 44), fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.spines[["top", "right", "left"]].set_visible(False)


def _figure(panels: list[tuple[list[Bar], float | None, str]], path: Path) -> Path | None:
    panels = [p for p in panels if any(b[1] for b in p[0])]
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    height = max(1.6 + 0.3 * max(len(p[0]) for p in panels), 2.4)
    fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, height * rows), squeeze=False)
    for ax, (bars, ref, title) in zip(axes.flat, panels, strict=False):
        _bars(ax, bars, ref, title)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path


def _title(row: dict[str, Any]) -> str:
    return f"{row['metric']} ({row['better']} is better)"


def _variant_panels(rows: dict[str, Any], variant: str) -> dict[str, list]:
    a, b = OBJECTIVES
    panels: dict[str, list] = {"intervals": [], "differences": [], "poi": []}
    poi_bars: list[Bar] = []
    for row in rows.values():
        by = row["variants"].get(variant)
        if by is None:
            continue
        scores, diffs = [], []
        pooled = by["pooled"]
        if pooled and pooled.get("objectives"):
            for o in OBJECTIVES:
                scores.append((f"all games (IQM) · {o}", pooled["objectives"].get(o), COLOURS[o]))
        for game, summary in by["games"].items():
            for o in OBJECTIVES:
                scores.append((f"{game} · {o}", summary["objectives"].get(o), COLOURS[o]))
            if row["comparable"]:
                diffs.append((game, summary.get("difference"), COLOURS["difference"]))
        panels["intervals"].append((scores, None, _title(row)))
        if row["comparable"]:
            if pooled and pooled.get("difference"):
                diffs.insert(0, ("all games", pooled["difference"], COLOURS["difference"]))
            panels["differences"].append((diffs, 0.0, f"{a} − {b}: " + _title(row)))
            summary = pooled or next(iter(by["games"].values()), {})
            poi_bars.append(
                (row["metric"][:40], summary.get("probability_of_improvement"), COLOURS[a])
            )
    panels["poi"] = [(poi_bars, 0.5, f"P({a} better than {b})")] if poi_bars else []
    return panels


def write_plots(result: dict[str, Any], out_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """Per variant: objective intervals, paired differences, probability of improvement.
    Returns ``{variant: [(caption, path relative to out_dir)]}``."""
    a, b = OBJECTIVES
    captions = {
        "intervals": "Each objective per game (and IQM over games), 95% intervals over seeds",
        "differences": f"Paired difference {a} − {b} per game, 95% intervals over seeds",
        "poi": f"Probability that {a} beats {b} (0.5: no difference), 95% intervals",
    }
    plots_dir = out_dir / "plots"
    written: dict[str, list[tuple[str, str]]] = {}
    for variant in result["sweep"]["variants"]:
        panels = _variant_panels(result["rows"], variant)
        for name, caption in captions.items():
            path = _figure(panels[name], plots_dir / f"{name}_{variant}.png")
            if path is not None:
                written.setdefault(variant, []).append((caption, f"plots/{path.name}"))
    return written
