"""The headline: one compact table that answers "which world model is better" first.

Every number is copied from the probe tables already computed (nothing is measured again),
so the headline can never disagree with the detailed tables below it. Each headline row names
its source by **row key** (``HEADLINE_SPECS``), never by label: a probe that did not run, or a
run without the component a row needs, shows "n/a", but a probe table that lacks a key the
headline reads is a bug and raises ``RowKeyError``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wm_eval import columns as C
from wm_eval.report import NA, Report, Table, clean, fmt

LOWER, HIGHER, NEAR_ZERO = "lower", "higher", "closer to 0"
BaselineFilter = Callable[[str, Sequence[str]], bool]


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


# -- reading the tables ------------------------------------------------------------------------


def run_columns(table: Table, runs: Sequence[str]) -> dict[str, list[str]]:
    """Each run's non-baseline columns, in table order."""
    out: dict[str, list[str]] = {r: [] for r in runs}
    for c in table.columns:
        run = C.owner(c, runs)
        if run is not None and c not in table.baselines:
            out[run].append(c)
    return out


def _mean(table: Table, keys: Sequence[str], column: str) -> float | None:
    vals = [v for k in keys if (v := table.value(k, column)) is not None]
    return sum(vals) / len(vals) if vals else None


def prefixes(*names: str) -> BaselineFilter:
    """Baseline columns whose label starts with one of ``names``."""
    return lambda column, _runs: column.startswith(names)


def copy_latent_of_runs(column: str, runs: Sequence[str]) -> bool:
    """The per-run copy-current-latent baseline columns."""
    return column.endswith(C.COPY_LATENT_SUFFIX) and C.owner(column, runs) is not None


@dataclass(frozen=True)
class RowSpec:
    """A headline row read from one probe table: a row key, or a family of keys.

    ``row`` is a key (it must exist once the table does) or an fnmatch pattern such as
    ``"k=*"`` (data-dependent rows, n/a when none): ``reduce='last'`` reads the family's last
    row in table order, ``'mean'`` averages each column over the family. ``metric`` may name
    the source row's ``{label}`` and the family size ``{n}``; ``metric_na`` is shown when the
    table or the family is missing.
    """

    key: str
    metric: str
    better: str
    probe: str
    table: str
    row: str
    baseline_name: str
    baselines: BaselineFilter
    reduce: str = "one"
    metric_na: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The headline row keys this spec fills."""
        return (self.key,)

    def source_rows(self, table: Table) -> list[str]:
        """The row keys this spec reads from ``table``; a missing fixed key raises."""
        if self.reduce == "one":
            return [table.require(self.row)]
        family = [k for k in table.rows if fnmatch.fnmatchcase(k, self.row)]
        return family[-1:] if self.reduce == "last" else family

    def required_rows(self, table: Table) -> list[str]:
        """What must exist in a complete table: the key, or at least one row of the family."""
        rows = self.source_rows(table)
        if not rows:
            table.require(self.row)  # raises, naming the pattern and the rows there are
        return rows

    def build(self, tables: dict[str, Table], runs: Sequence[str]) -> list[HeadlineRow]:
        t = tables.get(self.table)
        rows = self.source_rows(t) if t is not None else []
        label = t.label(rows[0]) if t is not None and len(rows) == 1 else ""
        na = self.metric_na if self.metric_na is not None else self.metric.format(label="", n=0)
        metric = self.metric.format(label=label, n=len(rows)) if rows else na
        out = HeadlineRow(self.key, metric, self.better, dict.fromkeys(runs), self.baseline_name)
        out.source_table = self.table
        if t is None or not rows:
            return [out]
        out.source_row = rows[0] if self.reduce != "mean" else f"mean of {self.row}"
        for run, cols in run_columns(t, runs).items():
            for c in cols:
                if (v := _mean(t, rows, c)) is not None:
                    out.values[run], out.source_columns[run] = v, c
                    break
            else:
                out.source_columns[run] = cols[0] if cols else None
        out.baseline = {c: _mean(t, rows, c) for c in t.baselines if self.baselines(c, runs)}
        return [out]


@dataclass(frozen=True)
class RewardSpec:
    """Reward MSE from the true and from the predicted next latent, and their gap.

    Each run's reward head is the first of its heads trained on true next latents with a value,
    else its first head.
    """

    probe: str = "reward"
    table: str = "reward"
    mse: str = "mse"
    gap: str = "mse_gap"
    keys: tuple[str, ...] = (
        "reward_mse_true_next",
        "reward_mse_predicted_next",
        "reward_mse_gap",
    )

    def required_rows(self, table: Table) -> list[str]:
        return [table.require(self.mse), table.require(self.gap)]

    def _empty(self, runs: Sequence[str]) -> list[HeadlineRow]:
        const = "constant train-mean reward"
        specs = [
            ("reward MSE, true next latent", LOWER, const),
            ("reward MSE, predicted next latent", LOWER, const),
            ("reward MSE gap (predicted − true next)", NEAR_ZERO, "copy-current-latent (per run)"),
        ]
        return [
            HeadlineRow(k, m, b, dict.fromkeys(runs), base, source_table=self.table)
            for k, (m, b, base) in zip(self.keys, specs, strict=True)
        ]

    def _head(self, t: Table, columns: Sequence[str]) -> str | None:
        stems = [c[: -len(C.TRUE_NEXT)] for c in columns if c.endswith(C.TRUE_NEXT)]
        trained_on_true = C.TRAINED_ON.format(source="true")
        stems.sort(key=lambda s: trained_on_true not in s)  # stable: table order otherwise
        with_value = [s for s in stems if t.value(self.mse, s + C.TRUE_NEXT) is not None]
        return (with_value or stems or [None])[0]

    def build(self, tables: dict[str, Table], runs: Sequence[str]) -> list[HeadlineRow]:
        rows = self._empty(runs)
        t = tables.get(self.table)
        if t is None:
            return rows
        true_row, pred_row, gap_row = rows
        mse, gap = self.required_rows(t)
        true_row.source_row = pred_row.source_row = mse
        gap_row.source_row = gap
        for r in (true_row, pred_row):
            r.baseline = {
                c: t.value(mse, c) for c in t.baselines if c.startswith(C.CONSTANT_REWARD)
            }
        for run, cols in run_columns(t, runs).items():
            stem = self._head(t, cols)
            if stem is None:
                continue
            col = C.reward_head_columns(stem)
            for r, row_key, c in (
                (true_row, mse, col["true"]),
                (pred_row, mse, col["pred"]),
                (gap_row, gap, col["pred"]),
            ):
                r.values[run], r.source_columns[run] = t.value(row_key, c), c
            true_mse, copy_mse = t.value(mse, col["true"]), t.value(mse, col["copy"])
            ok = true_mse is not None and copy_mse is not None
            gap_row.baseline[col["copy"]] = clean(copy_mse - true_mse) if ok else None
        return rows


RANDOM = prefixes(C.RANDOM_INIT)
COPY_FRAME = prefixes(C.COPY_FRAME)

HEADLINE_SPECS: tuple[RowSpec | RewardSpec, ...] = (
    RowSpec(
        "next_frame_l1",
        "next-frame reconstruction L1 (decoder)",
        LOWER,
        "reconstruction",
        "reconstruction",
        "l1",
        C.COPY_FRAME,
        COPY_FRAME,
    ),
    RowSpec(
        "next_frame_l1_changed",
        "next-frame L1 on changed pixels (decoder)",
        LOWER,
        "reconstruction",
        "reconstruction",
        "l1_changed",
        C.COPY_FRAME,
        COPY_FRAME,
    ),
    RowSpec(
        "latent_1step_error",
        "1-step latent prediction error / latent variance",
        LOWER,
        "rollout",
        "rollout",
        "k=1",
        "copy-current-latent (per run)",
        copy_latent_of_runs,
    ),
    RowSpec(
        "decoded_rollout_mse",
        "decoded rollout pixel MSE at {label}",
        LOWER,
        "rollout",
        "rollout_pixels",
        "k=*",
        C.COPY_FRAME,
        COPY_FRAME,
        reduce="last",
        metric_na="decoded rollout pixel MSE at the largest k",
    ),
    RewardSpec(),
    RowSpec(
        "reward_information_auroc",
        "reward>0 AUROC, linear probe of frozen (z, z')",
        HIGHER,
        "reward",
        "reward_information",
        "auroc",
        "random-init encoder / pooled pixels",
        prefixes(C.RANDOM_INIT, C.PIXELS),
    ),
    RowSpec(
        "state_probe_r2",
        "state-probe R², mean of {n} continuous RAM variables",
        HIGHER,
        "state",
        "state",
        "r2/*",
        "random-init encoder",
        RANDOM,
        reduce="mean",
    ),
    RowSpec(
        "effective_rank_frac",
        "effective rank / D (collapse)",
        HIGHER,
        "representation",
        "collapse",
        "effective_rank_frac",
        "random-init encoder",
        RANDOM,
    ),
    RowSpec(
        "trustworthiness_ram",
        "{label}",
        HIGHER,
        "representation",
        "representation",
        "trustworthiness/ram_state",
        "random-init encoder",
        RANDOM,
        metric_na="trustworthiness vs RAM state",
    ),
)


def build_headline(report: Report) -> Headline:
    """The headline of a report from its tables.

    A missing table (probe not run) or value (component missing) gives n/a; a present table
    without a row key a spec reads raises ``RowKeyError``.
    """
    runs = list(report.runs)
    tables = {t.name: t for t in report.tables}
    return Headline(runs, [row for spec in HEADLINE_SPECS for row in spec.build(tables, runs)])
