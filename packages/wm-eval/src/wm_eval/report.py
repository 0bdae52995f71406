"""Tables of numbers with their baselines, rendered to ``report.md`` and ``report.json``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wm_eval.headline import Headline

NA = "n/a"


@dataclass
class Table:
    """Rows of metrics, one column per model; baseline columns are marked and required.

    A missing value (a run without a decoder, an undefined metric) is ``None`` and shows as
    "n/a".
    """

    name: str
    title: str
    description: str
    columns: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, float | None]] = field(default_factory=dict)
    better: str = ""

    def add_column(self, label: str, *, baseline: bool = False) -> str:
        if label not in self.columns:
            self.columns.append(label)
            if baseline:
                self.baselines.append(label)
        return label

    def set(self, row: str, column: str, value: float | None) -> None:
        if column not in self.columns:
            raise KeyError(f"column {column!r} not in table {self.name!r}")
        self.rows.setdefault(row, {})[column] = _clean(value)

    def ensure_row(self, row: str) -> None:
        self.rows.setdefault(row, {})

    def value(self, row: str, column: str) -> float | None:
        return self.rows.get(row, {}).get(column)

    def to_markdown(self) -> str:
        if not self.baselines:
            raise ValueError(f"table {self.name!r} has no baseline column")
        heads = [c if c not in self.baselines else f"{c} *(baseline)*" for c in self.columns]
        lines = [f"## {self.title}", "", self.description]
        if self.better:
            lines += ["", f"*Better: {self.better}.*"]
        lines += ["", "| metric | " + " | ".join(heads) + " |"]
        lines.append("|---|" + "---:|" * len(self.columns))
        for row, vals in self.rows.items():
            cells = [fmt(vals.get(c)) for c in self.columns]
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "better": self.better,
            "columns": self.columns,
            "baselines": self.baselines,
            "rows": {r: {c: v.get(c) for c in self.columns} for r, v in self.rows.items()},
        }


def _clean(value: Any) -> float | None:
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


def json_safe(obj: Any) -> Any:
    """Plain JSON: NaN -> null, +-inf -> "inf"/"-inf", tuples -> lists, other objects -> str."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float) or hasattr(obj, "__float__"):
        v = float(obj)
        if math.isnan(v):
            return None
        return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    return str(obj)


@dataclass
class Report:
    """Everything one ``wm-eval`` call produced."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, relative path)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    headline: Headline | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "headline": self.headline.to_dict() if self.headline else None,
            "tables": {t.name: t.to_dict() for t in self.tables},
            "figures": [{"caption": c, "path": p} for c, p in self.figures],
            "notes": self.notes,
            "config": self.config,
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
        return "\n".join(out)

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        md, js = out_dir / "report.md", out_dir / "report.json"
        md.write_text(self.to_markdown())
        js.write_text(json.dumps(json_safe(self.to_dict()), indent=2, allow_nan=False))
        return md, js
