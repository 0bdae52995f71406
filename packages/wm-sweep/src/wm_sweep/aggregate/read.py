"""Read the headline of every evaluation of a sweep (``report.json`` as wm-eval writes it).

A headline row (``report.json["headline"]["rows"][key]``) gives, per run label, the figure's
``value`` and a ``flag`` when the number must not be read (a degenerate ratio); the row's
``space`` and ``run_vs_run`` say whether two runs' figures may be compared (``run_vs_run`` is
null for figures in separate latent spaces), and each run's ``baseline`` / ``difference`` /
``verdict`` its strongest trivial baseline in the same space and how it fared against it. A
flagged or missing figure leaves that seed out of that row, and the aggregate says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wm_sweep.plan import SWEEP_FILE
from wm_sweep.spec import OBJECTIVES

__all__ = ["BaselineScore", "Evaluation", "RowInfo", "Scores", "find_evaluations", "read_scores"]

_SEED = re.compile(r"^seed(\d+)$")


@dataclass(frozen=True)
class Evaluation:
    game: str
    variant: str
    seed: int
    report: Path

    @property
    def found(self) -> bool:
        return self.report.is_file()


@dataclass
class RowInfo:
    key: str
    metric: str
    better: str
    space: str
    comparable: bool = False


@dataclass(frozen=True)
class BaselineScore:
    """One seed's strongest trivial baseline for a run's figure, as wm-eval judged it: its
    name and value, the paired difference run − baseline on the test windows, the verdict."""

    name: str
    value: float
    difference: float | None
    verdict: str


@dataclass
class Scores:
    """``values[row][variant][game][objective][seed]``, the same for each figure's strongest
    trivial baseline (``baselines``, a ``BaselineScore``), and what could not be read."""

    rows: dict[str, RowInfo] = field(default_factory=dict)
    values: dict[str, dict] = field(default_factory=dict)
    baselines: dict[str, dict] = field(default_factory=dict)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)

    def put(self, key: str, ev: Evaluation, objective: str, value: float) -> None:
        games = self.values.setdefault(key, {}).setdefault(ev.variant, {})
        games.setdefault(ev.game, {}).setdefault(objective, {})[ev.seed] = value

    def put_baseline(self, key: str, ev: Evaluation, objective: str, base: BaselineScore) -> None:
        games = self.baselines.setdefault(key, {}).setdefault(ev.variant, {})
        games.setdefault(ev.game, {}).setdefault(objective, {})[ev.seed] = base


def find_evaluations(sweep_dir: Path) -> list[Evaluation]:
    """The evaluations the sweep planned (``sweep.json``), else every ``eval/*/*/seed*``."""
    plan = sweep_dir / SWEEP_FILE
    if plan.is_file():
        raw = json.loads(plan.read_text())
        cwd = Path(raw.get("cwd", "."))
        out = []
        for stage in raw["stages"]:
            if stage["kind"] == "eval":
                lab, report = stage["labels"], Path(stage["output"]) / "report.json"
                report = report if report.is_absolute() else cwd / report
                out.append(Evaluation(lab["game"], lab["variant"], int(lab["seed"]), report))
        return out
    found = []
    for report in sorted(sweep_dir.glob("eval/*/*/seed*/report.json")):
        seed_dir = report.parent
        match = _SEED.match(seed_dir.name)
        if match:
            game, variant = seed_dir.parent.parent.name, seed_dir.parent.name
            found.append(Evaluation(game, variant, int(match.group(1)), report))
    return found


def _read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    headline = data.get("headline") if isinstance(data, dict) else None
    if not isinstance(headline, dict) or not isinstance(headline.get("rows"), dict):
        raise ValueError(f"{path}: no headline rows (is it a wm-eval report.json?)")
    return headline


def read_scores(evaluations: list[Evaluation], objectives: tuple[str, ...] = OBJECTIVES) -> Scores:
    """Every usable headline figure of every evaluation found."""
    scores = Scores()
    for ev in evaluations:
        where = {"game": ev.game, "variant": ev.variant, "seed": ev.seed}
        if not ev.found:
            scores.missing.append({**where, "report": str(ev.report)})
            continue
        for key, row in _read_report(ev.report)["rows"].items():
            info = scores.rows.get(key)
            if info is None:
                info = scores.rows[key] = RowInfo(
                    key, row.get("metric", key), row.get("better", ""), row.get("space", "")
                )
            info.comparable = info.comparable or row.get("run_vs_run") is not None
            for objective in objectives:
                cell = (row.get("runs") or {}).get(objective) or {}
                value, flag = cell.get("value"), cell.get("flag")
                if flag:
                    scores.flagged.append({**where, "row": key, "run": objective, "flag": flag})
                elif isinstance(value, (int, float)) and value == value:  # NaN is missing
                    scores.put(key, ev, objective, float(value))
                    base = _baseline(cell)
                    if base is not None:
                        scores.put_baseline(key, ev, objective, base)
    return scores


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    return float(value) if ok else None


def _baseline(cell: dict[str, Any]) -> BaselineScore | None:
    """The cell's baseline, where wm-eval named one with a usable value."""
    base = cell.get("baseline") or {}
    value = _number(base.get("value"))
    if not base.get("name") or value is None or base.get("flag"):
        return None
    difference = _number((cell.get("difference") or {}).get("value"))
    return BaselineScore(str(base["name"]), value, difference, str(cell.get("verdict") or ""))
