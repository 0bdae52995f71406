"""What a headline is made of: its rows and table, the spaces a figure lives in, and which
baseline columns each row may be judged against. ``wm_eval.headline`` fills it from the probe
tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wm_eval import columns as C
from wm_eval.judgement import Judged
from wm_eval.judgement import versus_text as _versus_text
from wm_eval.report import NA, Table

LOWER, HIGHER = "lower", "higher"
PIXELS, LATENT, PROBE, REWARD, GEOMETRY = "pixels", "latent", "probe", "reward", "geometry"
CONTROL = "game return"
SAME_SPACE = (PIXELS, PROBE, REWARD, CONTROL)  # rows where two runs' figures may be compared
PIXEL_BASELINES = (C.COPY_FRAME, C.MEAN_FRAME, C.MEDIAN_FRAME, C.BLUR_FRAME)
PIXEL_LOOP = "/pixel loop"  # the decode→re-encode protocol column of a decoded rollout
BaselineFilter = Callable[[str, str, Sequence[str]], bool]  # (column, run, runs) -> bool


@dataclass
class HeadlineRow:
    """One question: each run's judged figure and, where meaningful, runs against each other."""

    key: str
    metric: str
    better: str
    space: str
    cells: dict[str, Judged] = field(default_factory=dict)
    pairs: list[dict[str, str | None]] | None = None  # None: runs are not comparable here
    source_table: str = ""
    source_row: str | None = None

    @property
    def values(self) -> dict[str, float | None]:
        return {r: j.figure.value for r, j in self.cells.items()}

    def versus_text(self) -> str:
        if self.pairs is None:
            return "— (separate latent spaces)" if self.space == LATENT else "—"
        return _versus_text(self.pairs) or NA

    def to_dict(self, runs: Sequence[str]) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "better": self.better,
            "space": self.space,
            "values": {r: self.cells[r].figure.value for r in runs},
            "runs": {r: self.cells[r].to_dict() for r in runs},
            "run_vs_run": self.pairs,
            "source": {
                "table": self.source_table,
                "row": self.source_row,
                "columns": {r: self.cells[r].figure.column for r in runs},
            },
        }


@dataclass
class Headline:
    """Runs side by side on the few numbers that decide between world models."""

    runs: list[str]
    rows: list[HeadlineRow] = field(default_factory=list)
    split: str | None = None
    title: str = "Headline: which world model is better"
    description: str = (
        "Each run's figure with its 95% interval (episode-level bootstrap), then '—' and the "
        "strongest trivial baseline in the same space (the candidate with the best value on "
        "that row: copy-last-frame / mean / median frame / blur for pixels; the run's own "
        "copy-latent / mean-latent / linear-dynamics / shuffled-actions for its latent; "
        "random-init / pooled pixels / constant / chance for probes; the random policy on the "
        "same env seeds for game return). 'beats' only when the "
        "interval of the paired difference on the same windows excludes 0 in the good "
        "direction; otherwise 'no better than' (or 'worse than'). 'no interval': the table has "
        "no per-window scores, so no verdict. Runs are compared with each other only in the "
        "same space and from the paired interval; latent errors of different runs are never "
        "compared. Copied from the tables below (report.json names each source); a run with "
        "several decoders or reward heads uses the first listed, a reward head trained on "
        "true next latents first. n/a: component missing or probe not run."
    )

    def to_markdown(self) -> str:
        lines = [f"## {self.title}", "", self.description, ""]
        if self.split:
            lines += [f"*Every figure is scored on the {self.split} split.*", ""]
        lines.append("| metric | better | " + " | ".join(self.runs) + " | run vs run |")
        lines.append("|---|---|" + "---|" * len(self.runs) + "---|")
        for row in self.rows:
            cells = [row.cells[r].text() for r in self.runs]
            lines.append(
                f"| {row.metric} | {row.better} | "
                + " | ".join(cells)
                + f" | {row.versus_text()} |"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "split": self.split,
            "columns": self.runs,
            "rows": {r.key: r.to_dict(self.runs) for r in self.rows},
        }


# -- reading the tables ------------------------------------------------------------------------


def run_columns(
    table: Table, runs: Sequence[str], prefer: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Each run's non-baseline columns, those ending with a ``prefer`` suffix first."""
    out: dict[str, list[str]] = {r: [] for r in runs}
    for c in table.columns:
        run = C.owner(c, runs)
        if run is not None and c not in table.baselines:
            out[run].append(c)
    if prefer:
        for cols in out.values():
            cols.sort(key=lambda c: not c.endswith(tuple(prefer)))  # stable
    return out


def prefixes(*names: str) -> BaselineFilter:
    """Baseline columns whose label starts with one of ``names`` (store tags may follow)."""
    return lambda column, _run, _runs: column.startswith(names)


def own_latent(column: str, run: str, runs: Sequence[str]) -> bool:
    """The run's own latent baselines: copy-latent, mean-latent, linear dynamics, shuffled."""
    return column != run and C.owner(column, runs) == run


def action_blind(column: str, run: str, _runs: Sequence[str]) -> bool:
    """The run's own predictor fed shuffled actions, and linear dynamics of its latent."""
    return column in (C.shuffled_actions(run), C.linear_dynamics(run))


PIXEL = prefixes(*PIXEL_BASELINES)
PROBE_BASELINES = prefixes(C.RANDOM_INIT, f"pixels, {C.POOLED}×{C.POOLED} pooled", "constant")
