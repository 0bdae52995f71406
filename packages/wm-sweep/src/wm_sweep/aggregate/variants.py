"""The ablation view of a sweep: one row per variant, next to the sweep's first variant.

An ablation is a sweep whose variants each change one thing. Its question is not "JEPA or
encoder-decoder?" but "which change makes a model beat its trivial baselines?", so this table
puts, per variant and objective, the training cost (samples seen, wall time, from each run's
``run.json``) beside the test-split headline figures with their 95% intervals and the verdict
against the strongest trivial baseline that wm-eval printed. Variants are not compared with
each other by a paired test (their reports hold no per-window scores); the reading rule is
whether a variant turns a "worse than" or "no better than" into "beats".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from wm_sweep.aggregate.read import Evaluation

__all__ = ["ROWS", "variant_rows", "variants_markdown", "write_curves"]

# (objective, headline row key, short label) in the order the table shows them.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("encoder_decoder", "next_frame_l1", "ED next-frame L1"),
    ("encoder_decoder", "next_frame_l1_objects", "ED L1 in object regions"),
    ("encoder_decoder", "decoded_rollout_error", "ED decoded 5-step MSE"),
    ("encoder_decoder", "state_probe_mean", "ED state probes"),
    ("encoder_decoder", "effective_rank_frac", "ED eff. rank / D"),
    ("jepa", "latent_1step_error", "JEPA 1-step latent error"),
    ("jepa", "latent_rollout_error", "JEPA 5-step latent error"),
    ("jepa", "latent_rollout_error_l1", "JEPA 5-step latent L1"),
    ("jepa", "state_probe_mean", "JEPA state probes"),
    ("jepa", "effective_rank_frac", "JEPA eff. rank / D"),
)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _training(run_dir: Path) -> dict[str, Any]:
    """Samples seen, optimiser steps and wall time of a run, from its ``run.json``."""
    manifest = _json(run_dir / "run.json")
    training = manifest.get("training") or manifest.get("extra", {}).get("training") or {}
    return {
        "status": manifest.get("status"),
        "samples_seen": training.get("samples_seen"),
        "steps": training.get("steps"),
        "train_seconds": training.get("train_seconds"),
    }


def _cell(row: dict[str, Any], objective: str) -> dict[str, Any] | None:
    run = (row.get("runs") or {}).get(objective)
    if not run or not isinstance(run.get("value"), (int, float)):
        return None
    interval = run.get("interval") or {}
    baseline = run.get("baseline") or {}
    return {
        "value": run["value"],
        "low": interval.get("low"),
        "high": interval.get("high"),
        "verdict": run.get("verdict"),
        "baseline": baseline.get("name"),
        "baseline_value": baseline.get("value"),
        "flag": run.get("flag"),
    }


def variant_rows(evaluations: list[Evaluation]) -> list[dict[str, Any]]:
    """One record per evaluation found: its variant, seed, runs' training cost and cells."""
    records = []
    for ev in evaluations:
        if not ev.found:
            records.append({"game": ev.game, "variant": ev.variant, "seed": ev.seed})
            continue
        report = _json(ev.report)
        rows = (report.get("headline") or {}).get("rows") or {}
        runs = report.get("runs") or {}
        training = {
            label: _training(Path(info["path"]))
            for label, info in runs.items()
            if isinstance(info, dict) and info.get("path")
        }
        cells = {
            f"{objective}/{key}": _cell(rows.get(key) or {}, objective)
            for objective, key, _ in ROWS
        }
        records.append(
            {
                "game": ev.game,
                "variant": ev.variant,
                "seed": ev.seed,
                "report": str(ev.report),
                "training": training,
                "cells": cells,
            }
        )
    return records


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3g}"


def _verdict(text: str | None) -> str:
    if not text:
        return ""
    for word, mark in (("beats", "**beats**"), ("no better", "no better"), ("worse", "worse")):
        if text.startswith(word):
            return mark
    return text


def _format_cell(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "n/a"
    text = _number(cell["value"])
    if cell.get("low") is not None and cell.get("high") is not None:
        text += f" [{_number(cell['low'])}, {_number(cell['high'])}]"
    verdict = _verdict(cell.get("verdict"))
    return f"{text} {verdict}".strip()


def _cost(training: dict[str, Any], objective: str) -> str:
    info = training.get(objective) or {}
    samples, seconds = info.get("samples_seen"), info.get("train_seconds")
    parts = [f"{samples / 1000:.0f}k" if isinstance(samples, (int, float)) else "?"]
    parts.append(f"{seconds / 60:.1f} min" if isinstance(seconds, (int, float)) else "? min")
    return ", ".join(parts)


def variants_markdown(records: list[dict[str, Any]]) -> str:
    """The ablation table: rows are variants, columns the cost and headline cells."""
    head = ["variant", "seed", "ED cost", "JEPA cost", *(label for *_, label in ROWS)]
    lines = [
        "## Variants (ablation view)",
        "",
        "Per variant and seed: each world model's samples seen and wall time, then the "
        "test-split headline figures with their 95% episode-bootstrap interval and the verdict "
        "against the strongest trivial baseline in the same space (see each report.md for the "
        "baseline's value). Variants are not tested against each other; read whether a change "
        "turns 'worse' or 'no better' into **beats**.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    baselines: dict[str, str] = {}
    for rec in records:
        if "cells" not in rec:
            cells = ["not evaluated yet"] + [""] * (len(head) - 3)
            lines.append(f"| {rec['variant']} | {rec['seed']} | " + " | ".join(cells) + " |")
            continue
        row = [rec["variant"], str(rec["seed"])]
        row += [_cost(rec["training"], "encoder_decoder"), _cost(rec["training"], "jepa")]
        for objective, key, label in ROWS:
            cell = rec["cells"].get(f"{objective}/{key}")
            row.append(_format_cell(cell))
            if cell and cell.get("baseline") and label not in baselines:
                baselines[label] = f"{cell['baseline']} {_number(cell.get('baseline_value'))}"
        lines.append("| " + " | ".join(row) + " |")
    if baselines:
        lines += ["", "Strongest baseline per column (first variant's report):", ""]
        lines += [f"- {label}: {text}" for label, text in baselines.items()]
    return "\n".join(lines) + "\n"


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def write_curves(records: list[dict[str, Any]], out_dir: Path) -> dict[str, str]:
    """Per objective, every variant's learning curves on one figure (``wm_train.curves``:
    training loss at every logged step, validation loss per epoch beside its copy baseline, the
    next frame's L1 beside copying, the latent's effective rank), so that a variant that had not
    converged, or never left its baseline, shows it."""
    from wm_train.curves import plot_curves

    objectives = ("encoder_decoder", "jepa")
    found: dict[str, tuple[list[str], list[str]]] = {o: ([], []) for o in objectives}
    for rec in records:  # each report read once, for both objectives
        report = _json(Path(rec["report"])) if "report" in rec else {}
        for objective in objectives:
            path = ((report.get("runs") or {}).get(objective) or {}).get("path")
            if (rec.get("training") or {}).get(objective) and path and _metrics(Path(path)):
                found[objective][0].append(path)
                found[objective][1].append(rec["variant"])
    written = {}
    for objective, (runs, names) in found.items():
        if not runs:
            continue
        title = f"{objective}: learning curves per variant"
        out = plot_curves(runs, out_dir / f"curves_{objective}.png", labels=names, title=title)
        written[objective] = str(out)
    return written
