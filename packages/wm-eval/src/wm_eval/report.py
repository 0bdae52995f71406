"""Tables of numbers with their baselines, rendered to ``report.md`` and ``report.json``.

Every row has a stable **key** (``"l1"``, ``"k=1"``, ``"r2/score"``) and a free **label** (what
``report.md`` shows). Anything that reads a table back (the headline, tests, ``report.json``
consumers) addresses rows by key, so rewording a label never changes what is read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wm_core import atomic_write_text, to_plain
from wm_core.names import did_you_mean
from wm_eval.provenance import provenance_markdown
from wm_eval.stats import Interval, Measurement

if TYPE_CHECKING:
    from wm_eval.headline import Headline

NA = "n/a"
DEGENERATE_BELOW = 1e-6  # a denominator (latent variance) this small makes a ratio meaningless


class RowKeyError(KeyError):
    """A row key that a table does not have; the message names the table and the known keys."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class Table:
    """Rows of metrics, one column per model; baseline columns are marked and required.

    ``rows`` maps each row key to its values by column, ``labels`` each row key to the text
    shown. A missing value (a run without a decoder, an undefined metric) is ``None`` and shows
    as "n/a".
    """

    name: str
    title: str
    description: str
    columns: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, float | None]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    better: str = ""
    probe: str | None = None  # the registered probe that produced it (set by ``evaluate``)
    split: str | None = None  # the store split the rows score ("test" unless said otherwise)
    measurements: dict[str, dict[str, Measurement]] = field(default_factory=dict, repr=False)
    flags: dict[str, dict[str, str]] = field(default_factory=dict)
    scored: set[tuple[int, int]] = field(default_factory=set)  # (episodes, windows) per batch

    def add_column(self, label: str, *, baseline: bool = False) -> str:
        if label not in self.columns:
            self.columns.append(label)
            if baseline:
                self.baselines.append(label)
        return label

    def add_row(self, key: str, label: str | None = None) -> str:
        """Declare row ``key`` shown as ``label`` (default: the key), or relabel it.

        Rows keep the order of their first declaration.
        """
        if label is not None or key not in self.labels:
            self.labels[key] = key if label is None else label
        self.rows.setdefault(key, {})
        return key

    def set(self, key: str, column: str, value: float | Measurement | None) -> None:
        """Set one cell; an undeclared row is added with its key as label.

        A ``Measurement`` keeps its per-window scores and episode ids, so the cell gets a 95%
        episode-bootstrap interval and can be compared, paired, with other cells of its row.
        """
        if column not in self.columns:
            raise KeyError(f"column {column!r} not in table {self.name!r}")
        if key not in self.rows:
            self.add_row(key)
        self.flags.get(key, {}).pop(column, None)
        if isinstance(value, Measurement):
            self.measurements.setdefault(key, {})[column] = value
            value = value.value
        else:
            self.measurements.get(key, {}).pop(column, None)
        self.rows[key][column] = clean(value)

    def set_ratio(
        self,
        key: str,
        column: str,
        value: float | Measurement | None,
        denominator: float,
        what: str = "latent variance",
    ) -> None:
        """Set a cell that is a ratio; a denominator below ``DEGENERATE_BELOW`` flags it.

        A flagged cell shows "degenerate (<what> ~0)" instead of a huge ratio, and the headline
        gives it no verdict.
        """
        self.set(key, column, value)
        if not denominator >= DEGENERATE_BELOW:  # NaN counts as degenerate too
            self.flag(key, column, f"degenerate ({what} ~0)")

    def flag(self, key: str, column: str, reason: str) -> None:
        """Mark a cell whose number must not be read (shown and judged as ``reason``)."""
        self.flags.setdefault(key, {})[column] = reason

    def flagged(self, key: str, column: str) -> str | None:
        return self.flags.get(key, {}).get(column)

    def scored_on(self, split: str, episodes: np.ndarray) -> None:
        """Record the split and the windows (with their episode ids) a batch of cells scored."""
        episodes = np.asarray(episodes)
        self.split = split
        self.scored.add((len(np.unique(episodes)), len(episodes)))

    def coverage(self) -> list[tuple[int, int]]:
        """Distinct (episodes, windows) the cells were scored on, recorded or from measurements."""
        seen = set(self.scored)
        for cells in self.measurements.values():
            for m in cells.values():
                seen.add((len(np.unique(m.episodes)), len(m.episodes)))
        return sorted(seen)

    def split_line(self) -> str:
        """ "Scored on the test split (12 episodes, 4000 windows)." ('' when no split is known)."""
        if self.split is None:
            return ""
        cov = self.coverage()
        if not cov:
            return f"Scored on the {self.split} split."
        parts = "; ".join(f"{e} episodes, {w} windows" for e, w in cov)
        return f"Scored on the {self.split} split ({parts})."

    def measurement(self, key: str, column: str) -> Measurement | None:
        """The per-window scores behind a cell, or None for a plain number."""
        return self.measurements.get(key, {}).get(column)

    def interval(self, key: str, column: str) -> Interval | None:
        """The cell's 95% interval (computed once, on first use), or None."""
        m = self.measurement(key, column)
        return None if m is None else m.interval()

    def value(self, key: str, column: str) -> float | None:
        return self.rows.get(key, {}).get(column)

    def label(self, key: str) -> str:
        return self.labels.get(key, key)

    def require(self, key: str) -> str:
        """``key`` if the table has that row, else a ``RowKeyError`` with the known keys."""
        if key not in self.rows:
            raise RowKeyError(
                f"table {self.name!r} has no row {key!r}; its rows: {', '.join(self.rows)}."
                + did_you_mean(key, self.rows)
            )
        return key

    def to_markdown(self) -> str:
        if not self.baselines:
            raise ValueError(f"table {self.name!r} has no baseline column")
        heads = [c if c not in self.baselines else f"{c} *(baseline)*" for c in self.columns]
        lines = [f"## {self.title}", "", self.description]
        if self.split_line():
            lines += ["", f"*{self.split_line()}*"]
        if self.better:
            lines += ["", f"*Better: {self.better}.*"]
        lines += ["", "| metric | " + " | ".join(heads) + " |"]
        lines.append("|---|" + "---:|" * len(self.columns))
        for key, vals in self.rows.items():
            cells = [
                self.flagged(key, c) or fmt_interval(vals.get(c), self.interval(key, c))
                for c in self.columns
            ]
            lines.append(f"| {self.label(key)} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "better": self.better,
            "probe": self.probe,
            "columns": self.columns,
            "baselines": self.baselines,
            "split": self.split,
            "scored": [{"episodes": e, "windows": w} for e, w in self.coverage()],
            "labels": {k: self.label(k) for k in self.rows},
            "rows": {k: {c: v.get(c) for c in self.columns} for k, v in self.rows.items()},
            "intervals": {
                k: {c: self.interval(k, c).to_dict() for c in cells}
                for k, cells in self.measurements.items()
                if cells
            },
            "flags": {k: dict(v) for k, v in self.flags.items() if v},
        }


def clean(value: Any) -> float | None:
    """A cell value: a float, or None for missing and NaN (shown as "n/a", written as null)."""
    if value is None:
        return None
    v = float(value)
    return None if math.isnan(v) else v


def fmt(value: float | None) -> str:
    """Four significant digits; ``None`` as "n/a"."""
    if value is None:
        return NA
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"


def fmt_interval(value: float | None, interval: Interval | None) -> str:
    """``0.0123 [0.0101, 0.0140]``: a value and its 95% interval, when it has one."""
    if interval is None or value is None or math.isnan(interval.low):
        return fmt(value)
    return f"{fmt(value)} [{fmt(interval.low)}, {fmt(interval.high)}]"


@dataclass
class Report:
    """Everything one ``wm-eval`` call produced."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, relative path)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    headline: Headline | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)  # seconds, see ``evaluate``

    def table(self, name: str) -> Table | None:
        """The table called ``name``, or None when its probe did not run."""
        return next((t for t in self.tables if t.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "headline": self.headline.to_dict() if self.headline else None,
            "tables": {t.name: t.to_dict() for t in self.tables},
            "figures": [{"caption": c, "path": p} for c, p in self.figures],
            "notes": self.notes,
            "config": self.config,
            "provenance": self.provenance,
            "timings": self.timings,
        }

    def to_markdown(self) -> str:
        out = ["# World-model evaluation", "", "## Runs", ""]
        out += ["| run | workflow | checkpoint | derived runs |", "|---|---|---|---|"]
        for label, info in self.runs.items():
            derived = ", ".join(f"{d['name']} ({d['workflow']})" for d in info["derived"]) or "-"
            out.append(
                f"| {label} | {info['workflow']} | {info.get('checkpoint') or NA} | {derived} |"
            )
        out.append("")
        if self.headline:  # first, so the answer is above the detail
            out.append(self.headline.to_markdown())
        for note in self.notes:
            out.append(f"> {note}")
            out.append("")
        for t in self.tables:
            out.append(t.to_markdown())
        if self.figures:
            out += ["## Figures", ""]
            for caption, path in self.figures:
                out += [f"**{caption}**", "", f"![{caption}]({path})", ""]
        if self.provenance:
            out.append(provenance_markdown(self.provenance))
        return "\n".join(out)

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """Write ``report.md`` and ``report.json`` atomically (infinities as "inf"/"-inf")."""
        out_dir.mkdir(parents=True, exist_ok=True)
        md, js = out_dir / "report.md", out_dir / "report.json"
        atomic_write_text(md, self.to_markdown())
        text = json.dumps(to_plain(self.to_dict()), indent=2, allow_nan=False)
        atomic_write_text(js, text)
        return md, js
