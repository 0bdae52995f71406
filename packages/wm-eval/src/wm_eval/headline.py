"""The headline: one compact table that answers "which world model is better" first.

Every number is copied from the probe tables already computed (nothing is measured again),
so the headline can never disagree with the detailed tables below it. A row whose probe
did not run, or a run without the component it needs, shows "n/a".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wm_eval.report import NA, Report, Table, fmt

LOWER, HIGHER, NEAR_ZERO = "lower", "higher", "closer to 0"
COPY_LATENT_SUFFIX = " · copy-latent"
REWARD_GAP_ROW = "MSE gap (predicted − true next)"
TRUE_NEXT, PRED_NEXT, COPY_NEXT = ": true next", ": predicted next", ": copy-latent"


@dataclass
class HeadlineRow:
    """One question: a value per run, the baseline(s) to beat, and where the numbers came from."""

    key: str
    metric: str
    better: str
    values: dict[str, float | None]
    baseline_name: str
    baseline: dict[str, float | None] = field(default_factory=dict)
    source_table: str = ""
    source_row: str | None = None
    source_columns: dict[str, str | None] = field(default_factory=dict)

    def best(self) -> list[str]:
        """Runs with the best value as printed (ties included); empty unless two have one."""
        have = {r: v for r, v in self.values.items() if v is not None}
        if len(have) < 2:
            return []
        score = {LOWER: lambda v: v, HIGHER: lambda v: -v, NEAR_ZERO: abs}[self.better]
        top = fmt(min(have.values(), key=score))
        return [r for r, v in have.items() if fmt(v) == top]


@dataclass
class Headline:
    """Runs side by side on the few numbers that decide between world models."""

    runs: list[str]
    rows: list[HeadlineRow] = field(default_factory=list)
    title: str = "Headline: which world model is better"
    description: str = (
        "Copied from the tables below (report.json names each source table, row and "
        "column). **Bold**: best run on that row. A run with several derived decoders or "
        "reward heads uses the first listed; the reward rows prefer a head trained on true "
        "next latents. Several baseline values (one per run, store or encoder architecture) "
        "are separated by ' / ' in column order. n/a: the run lacks the component (e.g. no "
        "decoder) or the probe was not run."
    )

    def to_markdown(self) -> str:
        lines = [f"## {self.title}", "", self.description, ""]
        lines.append("| metric | better | " + " | ".join(self.runs) + " | baseline | baseline is |")
        lines.append("|---|---|" + "---:|" * len(self.runs) + "---:|---|")
        for row in self.rows:
            best = row.best()
            cells = [
                f"**{fmt(row.values.get(r))}**" if r in best else fmt(row.values.get(r))
                for r in self.runs
            ]
            base = " / ".join(fmt(v) for v in row.baseline.values()) or NA
            lines.append(
                f"| {row.metric} | {row.better} | "
                + " | ".join(cells)
                + f" | {base} | {row.baseline_name} |"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "columns": self.runs,
            "rows": {
                r.key: {
                    "metric": r.metric,
                    "better": r.better,
                    "values": {run: r.values.get(run) for run in self.runs},
                    "best": r.best(),
                    "baseline": {"name": r.baseline_name, "values": r.baseline},
                    "source": {
                        "table": r.source_table,
                        "row": r.source_row,
                        "columns": r.source_columns,
                    },
                }
                for r in self.rows
            },
        }


def _owner(column: str, runs: Sequence[str]) -> str | None:
    """The run a column belongs to: its own label, ``run/derived...`` or ``run · baseline``."""
    hits = [
        r for r in runs if column == r or column.startswith((f"{r}/", f"{r}{COPY_LATENT_SUFFIX}"))
    ]
    return max(hits, key=len) if hits else None


def _run_columns(table: Table, runs: Sequence[str]) -> dict[str, list[str]]:
    """Each run's non-baseline columns, in table order."""
    out: dict[str, list[str]] = {r: [] for r in runs}
    for c in table.columns:
        owner = _owner(c, runs)
        if owner is not None and c not in table.baselines:
            out[owner].append(c)
    return out


def _first_value(table: Table, row: str, columns: Sequence[str]) -> tuple[float | None, str | None]:
    """The first of ``columns`` with a value on ``row`` (a run may own several)."""
    for c in columns:
        v = table.value(row, c)
        if v is not None:
            return v, c
    return None, (columns[0] if columns else None)


def _simple_row(
    tables: dict[str, Table],
    runs: Sequence[str],
    *,
    key: str,
    metric: str | Callable[[str], str],
    better: str,
    table: str,
    row: Callable[[Table], str | None],
    baseline_name: str,
    baseline: Callable[[Table, str], bool],
) -> HeadlineRow:
    """A row read straight from one table row: each run's value and the matching baselines."""
    t = tables.get(table)
    src_row = row(t) if t is not None else None
    name = metric(src_row or "") if callable(metric) else metric
    out = HeadlineRow(key, name, better, dict.fromkeys(runs), baseline_name, source_table=table)
    if t is None or src_row is None:
        return out
    out.source_row = src_row
    for run, cols in _run_columns(t, runs).items():
        out.values[run], out.source_columns[run] = _first_value(t, src_row, cols)
    out.baseline = {c: t.value(src_row, c) for c in t.baselines if baseline(t, c)}
    return out


def _largest_k(table: Table) -> str | None:
    ks = [int(m.group(1)) for r in table.rows if (m := re.fullmatch(r"k=(\d+)", r))]
    return f"k={max(ks)}" if ks else None


def _starts(prefix: str) -> Callable[[Table], str | None]:
    return lambda t: next((r for r in t.rows if r.startswith(prefix)), None)


def _exact(name: str) -> Callable[[Table], str | None]:
    return lambda t: name if name in t.rows else None


def _prefix_baseline(prefix: str) -> Callable[[Table, str], bool]:
    return lambda _t, c: c.startswith(prefix)


def _copy_latent_of(runs: Sequence[str]) -> Callable[[Table, str], bool]:
    return lambda _t, c: c.endswith(COPY_LATENT_SUFFIX) and _owner(c, runs) is not None


def _state_r2_row(tables: dict[str, Table], runs: Sequence[str]) -> HeadlineRow:
    """Mean R² over the continuous RAM variables (categorical ones are scored by accuracy)."""
    t = tables.get("state")
    r2_rows = [r for r in t.rows if r.endswith("(R²)")] if t is not None else []
    out = HeadlineRow(
        "state_probe_r2",
        f"state-probe R², mean of {len(r2_rows)} continuous RAM variables",
        HIGHER,
        dict.fromkeys(runs),
        "random-init encoder",
        source_table="state",
    )
    if t is None or not r2_rows:
        return out
    out.source_row = "mean of rows ending '(R²)'"

    def mean(column: str) -> float | None:
        vals = [v for r in r2_rows if (v := t.value(r, column)) is not None]
        return sum(vals) / len(vals) if vals else None

    for run, cols in _run_columns(t, runs).items():
        for c in cols:
            if (v := mean(c)) is not None:
                out.values[run], out.source_columns[run] = v, c
                break
    out.baseline = {c: mean(c) for c in t.baselines if c.startswith("random-init")}
    return out


def _reward_head(t: Table, columns: Sequence[str]) -> str | None:
    """Column stem of the run's reward head: trained on true next latents first, then others."""
    stems = [c[: -len(TRUE_NEXT)] for c in columns if c.endswith(TRUE_NEXT)]
    stems.sort(key=lambda s: "[trained on true]" not in s)  # stable: table order otherwise
    with_value = [s for s in stems if t.value("MSE", s + TRUE_NEXT) is not None]
    return (with_value or stems or [None])[0]


def _reward_rows(tables: dict[str, Table], runs: Sequence[str]) -> list[HeadlineRow]:
    """Reward MSE from the true and from the predicted next latent, and their gap."""
    t = tables.get("reward")
    const = "constant train-mean reward"
    rows = [
        HeadlineRow("reward_mse_true_next", "reward MSE, true next latent", LOWER, {}, const),
        HeadlineRow(
            "reward_mse_predicted_next", "reward MSE, predicted next latent", LOWER, {}, const
        ),
        HeadlineRow(
            "reward_mse_gap",
            "reward MSE gap (predicted − true next)",
            NEAR_ZERO,
            {},
            "copy-current-latent (per run)",
        ),
    ]
    for r in rows:
        r.values = dict.fromkeys(runs)
        r.source_table = "reward"
    if t is None:
        return rows
    rows[0].source_row = rows[1].source_row = "MSE"
    rows[2].source_row = REWARD_GAP_ROW
    for r in rows[:2]:
        r.baseline = {c: t.value("MSE", c) for c in t.baselines if c.startswith("constant")}
    for run, cols in _run_columns(t, runs).items():
        stem = _reward_head(t, cols)
        if stem is None:
            continue
        true_c, pred_c, copy_c = stem + TRUE_NEXT, stem + PRED_NEXT, stem + COPY_NEXT
        rows[0].values[run], rows[0].source_columns[run] = t.value("MSE", true_c), true_c
        rows[1].values[run], rows[1].source_columns[run] = t.value("MSE", pred_c), pred_c
        rows[2].values[run], rows[2].source_columns[run] = t.value(REWARD_GAP_ROW, pred_c), pred_c
        true_mse, copy_mse = t.value("MSE", true_c), t.value("MSE", copy_c)
        ok = true_mse is not None and copy_mse is not None
        rows[2].baseline[copy_c] = copy_mse - true_mse if ok else None
    return rows


def build_headline(report: Report) -> Headline:
    """The headline of a report from its tables; never fails on missing tables or values."""
    runs = list(report.runs)
    tables = {t.name: t for t in report.tables}
    random_init = _prefix_baseline("random-init")
    copy_frame = _prefix_baseline("copy-last-frame")
    rows = [
        _simple_row(
            tables,
            runs,
            key="next_frame_l1",
            metric="next-frame reconstruction L1 (decoder)",
            better=LOWER,
            table="reconstruction",
            row=_exact("L1"),
            baseline_name="copy-last-frame",
            baseline=copy_frame,
        ),
        _simple_row(
            tables,
            runs,
            key="next_frame_l1_changed",
            metric="next-frame L1 on changed pixels (decoder)",
            better=LOWER,
            table="reconstruction",
            row=_exact("L1 on changed pixels"),
            baseline_name="copy-last-frame",
            baseline=copy_frame,
        ),
        _simple_row(
            tables,
            runs,
            key="latent_1step_error",
            metric="1-step latent prediction error / latent variance",
            better=LOWER,
            table="rollout",
            row=_exact("k=1"),
            baseline_name="copy-current-latent (per run)",
            baseline=_copy_latent_of(runs),
        ),
        _simple_row(
            tables,
            runs,
            key="decoded_rollout_mse",
            metric=lambda r: f"decoded rollout pixel MSE at {r or 'the largest k'}",
            better=LOWER,
            table="rollout_pixels",
            row=_largest_k,
            baseline_name="copy-last-frame",
            baseline=copy_frame,
        ),
        *_reward_rows(tables, runs),
        _simple_row(
            tables,
            runs,
            key="reward_information_auroc",
            metric="reward>0 AUROC, linear probe of frozen (z, z')",
            better=HIGHER,
            table="reward_information",
            row=_starts("AUROC of reward>0"),
            baseline_name="random-init encoder / pooled pixels",
            baseline=lambda _t, c: c.startswith(("random-init", "pixels")),
        ),
        _state_r2_row(tables, runs),
        _simple_row(
            tables,
            runs,
            key="effective_rank_frac",
            metric="effective rank / D (collapse)",
            better=HIGHER,
            table="collapse",
            row=_exact("effective rank / D"),
            baseline_name="random-init encoder",
            baseline=random_init,
        ),
        _simple_row(
            tables,
            runs,
            key="trustworthiness_ram",
            metric=lambda r: r or "trustworthiness vs RAM state",
            better=HIGHER,
            table="representation",
            row=_starts("trustworthiness vs RAM state"),
            baseline_name="random-init encoder",
            baseline=random_init,
        ),
    ]
    return Headline(runs, rows)
