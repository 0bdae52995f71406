"""The headline: the few figures that decide between world models, each one judged.

Every number is copied from the probe tables already computed (nothing is measured again),
so the headline can never disagree with the detailed tables below it. Each row names its
source by **row key** (``HEADLINE_SPECS``), never by label: a probe that did not run, or a run
without the component a row needs, shows "n/a", but a probe table that lacks a key the
headline reads is a bug and raises ``RowKeyError``.

Each run's figure is printed with its 95% episode-bootstrap interval beside the strongest
trivial baseline **in the same space** and a verdict from the paired interval
(``wm_eval.judgement``). No run is bolded: two runs are compared only on rows whose figures
live in one space (decoded pixels, probe scores, reward), from their paired interval; latent
errors of different runs are never compared.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from wm_eval import columns as C
from wm_eval.headline_table import (  # noqa: F401  (the headline's vocabulary, re-exported)
    CONTROL,
    GEOMETRY,
    HIGHER,
    LATENT,
    LOWER,
    PIXEL,
    PIXEL_BASELINES,
    PIXEL_LOOP,
    PIXELS,
    PROBE,
    PROBE_BASELINES,
    REWARD,
    SAME_SPACE,
    BaselineFilter,
    Headline,
    HeadlineRow,
    action_blind,
    own_latent,
    prefixes,
    run_columns,
)
from wm_eval.judgement import DEGENERATE_LATENT, Figure, Judged, judge, verdict, versus
from wm_eval.report import Report, Table


@dataclass(frozen=True)
class RowSpec:
    """A headline row read from one probe table: a row key, or the last of a family of keys.

    ``row`` is a key (it must exist once the table does) or, with ``reduce='last'``, an fnmatch
    pattern such as ``"k=*"`` whose last row in table order is read (n/a when none).
    ``space`` decides which baselines are candidates and whether runs are compared:
    ``run_vs_run`` only for rows in one space across runs (``SAME_SPACE``). ``prefer``: column
    suffixes read first (the decode→re-encode protocol of a decoded rollout).
    """

    key: str
    metric: str
    better: str
    probe: str
    table: str
    row: str
    space: str
    baselines: BaselineFilter
    reduce: str = "one"
    metric_na: str | None = None
    prefer: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """The headline row keys this spec fills."""
        return (self.key,)

    @property
    def run_vs_run(self) -> bool:
        return self.space in SAME_SPACE

    def source_rows(self, table: Table) -> list[str]:
        """The row keys this spec reads from ``table``; a missing fixed key raises."""
        if self.reduce == "one":
            return [table.require(self.row)]
        return [k for k in table.rows if fnmatch.fnmatchcase(k, self.row)][-1:]

    def required_rows(self, table: Table) -> list[str]:
        """What must exist in a complete table: the key, or at least one row of the family."""
        rows = self.source_rows(table)
        if not rows:
            table.require(self.row)  # raises, naming the pattern and the rows there are
        return rows

    def build(self, tables: dict[str, Table], runs: Sequence[str]) -> list[HeadlineRow]:
        t = tables.get(self.table)
        rows = self.source_rows(t) if t is not None else []
        label = t.label(rows[0]) if t is not None and rows else ""
        na = self.metric_na if self.metric_na is not None else self.metric.format(label="")
        out = HeadlineRow(
            self.key, self.metric.format(label=label) if rows else na, self.better, self.space
        )
        out.source_table = self.table
        out.cells = {r: Judged(Figure()) for r in runs}
        if t is None or not rows:
            return [out]
        key = out.source_row = rows[0]
        figures: dict[str, Figure] = {}
        for run, cols in run_columns(t, runs, self.prefer).items():
            got = [Figure.read(t, key, c) for c in cols]
            fig = next((f for f in got if f.value is not None or f.flag), None)
            fig = fig or Figure(cols[0] if cols else None)
            candidates = {
                c: Figure.read(t, key, c) for c in t.baselines if self.baselines(c, run, runs)
            }
            degenerate = DEGENERATE_LATENT if self.space == LATENT else None
            out.cells[run] = judge(fig, candidates, self.better, degenerate=degenerate)
            figures[run] = fig
        if self.run_vs_run:
            out.pairs = versus(runs, figures, self.better)
        return [out]


@dataclass(frozen=True)
class RewardSpec:
    """Reward MSE from the true and from the predicted next latent, and their paired gap.

    Each run's reward head is the first of its heads trained on true next latents with a value,
    else its first head. Baselines: the constant train-mean reward (and, for the predicted next
    latent, the same head fed the current latent). The gap row judges predicted against true
    next latent on the same windows.
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
        metrics = [
            ("reward MSE, true next latent", REWARD),
            ("reward MSE, predicted next latent", REWARD),
            ("reward MSE gap (predicted − true next)", REWARD),
        ]
        return [
            HeadlineRow(
                k, m, LOWER, space, {r: Judged(Figure()) for r in runs}, source_table=self.table
            )
            for k, (m, space) in zip(self.keys, metrics, strict=True)
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
        const = {c: Figure.read(t, mse, c) for c in t.baselines if c.startswith(C.CONSTANT_REWARD)}
        figures: dict[str, dict[str, Figure]] = {"true": {}, "pred": {}}
        for run, cols in run_columns(t, runs).items():
            stem = self._head(t, cols)
            if stem is None:
                continue
            col = C.reward_head_columns(stem)
            true, pred = Figure.read(t, mse, col["true"]), Figure.read(t, mse, col["pred"])
            copy = {f"{stem}: head fed z' = z": Figure.read(t, mse, col["copy"])}
            true_row.cells[run] = judge(true, const, LOWER)
            pred_row.cells[run] = judge(pred, {**const, **copy}, LOWER)
            figures["true"][run], figures["pred"][run] = true, pred
            gap_row.cells[run] = self._gap(Figure.read(t, gap, col["pred"]), pred, true)
        true_row.pairs = versus(runs, figures["true"], LOWER)
        pred_row.pairs = versus(runs, figures["pred"], LOWER)
        return rows

    @staticmethod
    def _gap(gap: Figure, pred: Figure, true: Figure) -> Judged:
        """The gap, judged as the predicted-next MSE against the true-next MSE (paired)."""
        out = Judged(gap, baseline_name="true next latent")
        if gap.value is None:
            out.baseline_name = None
            return out
        out.verdict, out.note = verdict(pred, true, LOWER)
        return out


HEADLINE_SPECS: tuple[RowSpec | RewardSpec, ...] = (
    RowSpec(
        "next_frame_l1",
        "next-frame L1 (decoder), whole frame",
        LOWER,
        "reconstruction",
        "reconstruction",
        "l1",
        PIXELS,
        PIXEL,
    ),
    RowSpec(
        "next_frame_l1_objects",
        "next-frame L1 inside object regions",
        LOWER,
        "reconstruction",
        "reconstruction",
        "l1_objects",
        PIXELS,
        PIXEL,
    ),
    RowSpec(
        "next_frame_l1_changed",
        "next-frame L1 on changed pixels",
        LOWER,
        "reconstruction",
        "reconstruction",
        "l1_changed",
        PIXELS,
        PIXEL,
    ),
    RowSpec(
        "latent_1step_error",
        "1-step latent error / latent variance (own latent space)",
        LOWER,
        "rollout",
        "rollout_latent",
        "k=1",
        LATENT,
        own_latent,
    ),
    RowSpec(
        "latent_rollout_error",
        "open-loop latent error / latent variance at {label} (own latent space)",
        LOWER,
        "rollout",
        "rollout_latent",
        "k=*",
        LATENT,
        own_latent,
        reduce="last",
        metric_na="open-loop latent error / latent variance at the largest k",
    ),
    RowSpec(
        "latent_1step_error_l1",
        "1-step latent L1 / latent spread (own latent space, the JEPA's loss)",
        LOWER,
        "rollout",
        "rollout_latent_l1",
        "k=1",
        LATENT,
        own_latent,
    ),
    RowSpec(
        "latent_rollout_error_l1",
        "open-loop latent L1 / latent spread at {label} (own latent space)",
        LOWER,
        "rollout",
        "rollout_latent_l1",
        "k=*",
        LATENT,
        own_latent,
        reduce="last",
        metric_na="open-loop latent L1 / latent spread at the largest k",
    ),
    RowSpec(
        "action_displacement",
        "{label}, read from the predicted latent (action probe)",
        HIGHER,
        "action",
        "action",
        "*/k=1",
        PROBE,
        action_blind,
        reduce="last",
        metric_na="agent displacement after 1 action (R²), read from the predicted latent",
    ),
    RowSpec(
        "decoded_rollout_error",
        "decoded open-loop pixel error at {label} (decode→re-encode)",
        LOWER,
        "rollout",
        "rollout_pixels",
        "k=*",
        PIXELS,
        PIXEL,
        reduce="last",
        metric_na="decoded open-loop pixel error at the largest k",
        prefer=(PIXEL_LOOP,),
    ),
    RewardSpec(),
    RowSpec(
        "reward_information_auroc",
        "reward>0 AUROC, linear probe of frozen (z, z')",
        HIGHER,
        "reward",
        "reward_information",
        "auroc",
        PROBE,
        prefixes(C.RANDOM_INIT, C.PIXELS, C.CHANCE),
    ),
    RowSpec(
        "state_probe_mean",
        "state probes, mean skill over categories (R²; balanced accuracy rescaled so chance is 0)",
        HIGHER,
        "state",
        "state",
        "mean",
        PROBE,
        PROBE_BASELINES,
    ),
    RowSpec(
        "effective_rank_frac",
        "effective rank / D (collapse)",
        HIGHER,
        "representation",
        "collapse",
        "effective_rank_frac",
        GEOMETRY,
        prefixes(C.RANDOM_INIT),
    ),
    RowSpec(
        "trustworthiness_ram",
        "{label}",
        HIGHER,
        "representation",
        "representation",
        "trustworthiness/ram_state",
        GEOMETRY,
        prefixes(C.RANDOM_INIT),
        metric_na="trustworthiness vs RAM state",
    ),
    RowSpec(
        "planning_return",
        "mean game return, latent MPC with the dynamics reward head (control)",
        HIGHER,
        "control",
        "control",
        "return",
        CONTROL,
        prefixes(C.RANDOM_POLICY),
    ),
)


def build_headline(report: Report) -> Headline:
    """The headline of a report from its tables.

    A missing table (probe not run) or value (component missing) gives n/a; a present table
    without a row key a spec reads raises ``RowKeyError``.
    """
    runs = list(report.runs)
    tables = {t.name: t for t in report.tables}
    splits = {t.split for t in report.tables if t.split and t.split != C.PLAYED}
    rows = [row for spec in HEADLINE_SPECS for row in spec.build(tables, runs)]
    return Headline(runs, rows, split=", ".join(sorted(splits)) or None)
