"""The sweep's last stage: every evaluation's headline, aggregated over seeds and games.

``aggregate(sweep_dir)`` reads ``eval/<game>/<variant>/seed<k>/report.json`` (the list comes from
``sweep.json`` when the sweep wrote one) and writes ``aggregate/aggregate.json``,
``aggregate/aggregate.md`` and ``aggregate/plots/*.png``, each atomically. A sweep of several
variants (an ablation) also gets one row per variant with each run's training cost, and the
learning curves of every variant (``wm_sweep.aggregate.variants``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wm_core import atomic_write_text, to_plain
from wm_sweep.aggregate.compute import summarise
from wm_sweep.aggregate.markdown import to_markdown
from wm_sweep.aggregate.plots import write_plots
from wm_sweep.aggregate.read import Evaluation, find_evaluations, read_scores
from wm_sweep.aggregate.variants import variant_rows, variants_markdown, write_curves
from wm_sweep.plan import SWEEP_FILE
from wm_sweep.spec import OBJECTIVES, Aggregate

__all__ = ["aggregate", "aggregate_evaluations", "settings_of"]

FORMAT, VERSION = "wm-sweep-aggregate", 1


def settings_of(sweep_dir: Path) -> Aggregate:
    """The ``Aggregate`` settings the sweep recorded in ``sweep.json``, else the defaults."""
    try:
        raw = json.loads((sweep_dir / SWEEP_FILE).read_text())
    except (OSError, ValueError):
        return Aggregate()
    return Aggregate(**(raw.get("settings", {}).get("aggregate") or {}))


def _ordered(values: list) -> list:
    return list(dict.fromkeys(values))


def aggregate_evaluations(
    evaluations: list[Evaluation], settings: Aggregate, name: str = "sweep"
) -> dict[str, Any]:
    """The aggregate of these evaluations as a plain dict (``aggregate.json`` less the plots)."""
    scores = read_scores(evaluations)
    found = [e for e in evaluations if e.found]
    return {
        "format": FORMAT,
        "version": VERSION,
        "sweep": {
            "name": name,
            "games": _ordered([e.game for e in evaluations]),
            "seeds": sorted({e.seed for e in evaluations}),
            "variants": _ordered([e.variant for e in evaluations]),
            "objectives": list(OBJECTIVES),
        },
        "settings": {**settings.to_dict(), "method": "percentile bootstrap over seeds"},
        "evaluations": {
            "planned": len(evaluations),
            "found": len(found),
            "reports": [
                {"game": e.game, "variant": e.variant, "seed": e.seed, "report": str(e.report)}
                for e in found
            ],
            "missing": scores.missing,
        },
        "flagged": scores.flagged,
        "rows": summarise(scores, settings),
        "plots": {},
    }


def aggregate(
    sweep_dir: str | Path, out_dir: str | Path | None = None, settings: Aggregate | None = None
) -> dict[str, Any]:
    """Aggregate a sweep folder; writes the report files and returns ``aggregate.json``."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"--sweep-dir {sweep_dir}: no such folder")
    evaluations = find_evaluations(sweep_dir)
    if not any(e.found for e in evaluations):
        raise FileNotFoundError(
            f"--sweep-dir {sweep_dir}: no evaluation report.json found (eval/<game>/<variant>/"
            "seed<k>/report.json); run the sweep first"
        )
    settings = settings or settings_of(sweep_dir)
    result = aggregate_evaluations(evaluations, settings, name=sweep_dir.resolve().name)
    out = Path(out_dir) if out_dir is not None else sweep_dir / "aggregate"
    out.mkdir(parents=True, exist_ok=True)
    result["plots"] = write_plots(result, out)
    markdown = to_markdown(result)
    if len(result["sweep"]["variants"]) > 1:  # an ablation: one row per variant as well
        records = variant_rows(evaluations)
        result["variants"] = records
        (out / "plots").mkdir(exist_ok=True)
        result["plots"]["curves"] = write_curves(records, out / "plots")
        markdown += "\n" + variants_markdown(records)
    atomic_write_text(out / "aggregate.md", markdown)
    text = json.dumps(to_plain(result), indent=2, allow_nan=False)
    atomic_write_text(out / "aggregate.json", text + "\n")  # last: it marks the stage done
    return result
