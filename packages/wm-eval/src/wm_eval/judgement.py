"""Judging one headline figure: its interval, the strongest trivial baseline, the verdict.

A figure is only a result when it beats what a trivial predictor gets in the same space. For
each run the *strongest* baseline is the candidate column with the best point value on the
row; the verdict comes from ``stats.decide`` on the paired difference over the same windows
(the interval must exclude 0 in the good direction to say "beats"). Two runs are compared with
each other the same way, and only where their figures live in one space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wm_eval.report import NA, Table, fmt_interval
from wm_eval.stats import MIN_EPISODES, Interval, Measurement, decide

NO_INTERVAL = "no interval"
NOT_PAIRED = "not paired (different windows)"
DEGENERATE_LATENT = "degenerate (latent variance ~0)"


@dataclass
class Figure:
    """One cell read from a probe table: value, per-window measurement, flag."""

    column: str | None = None
    value: float | None = None
    measurement: Measurement | None = None
    flag: str | None = None

    @classmethod
    def read(cls, table: Table, key: str, column: str) -> Figure:
        return cls(
            column,
            table.value(key, column),
            table.measurement(key, column),
            table.flagged(key, column),
        )

    @property
    def interval(self) -> Interval | None:
        """The 95% interval, or None without per-window scores or when it is undefined."""
        if self.measurement is None:
            return None
        iv = self.measurement.interval()
        return None if math.isnan(iv.low) or math.isnan(iv.high) else iv

    def usable(self) -> bool:
        return self.value is not None and self.flag is None and math.isfinite(self.value)

    def text(self) -> str:
        if self.flag:
            return self.flag
        return fmt_interval(self.value, self.interval)

    def to_dict(self) -> dict[str, Any]:
        iv = self.interval
        return {
            "column": self.column,
            "value": self.value,
            "interval": None if iv is None else iv.to_dict(),
            "flag": self.flag,
        }


@dataclass
class Judged:
    """One run's figure on one headline row, its strongest baseline and the verdict."""

    figure: Figure
    baseline: Figure | None = None
    baseline_name: str | None = None
    verdict: str | None = None  # stats.BEATS / NO_BETTER / WORSE, or None
    note: str | None = None  # why there is no verdict
    difference: Interval | None = None  # the paired figure − baseline the verdict reads

    def text(self) -> str:
        if self.figure.value is None and self.figure.flag is None:
            return NA
        out = self.figure.text()
        if self.note and self.note != self.figure.flag:
            out += f" ({self.note})"
        if self.baseline_name is not None:
            base = self.baseline_name
            if self.baseline is not None:
                base += f" {self.baseline.text()}"
            out += f" — {self.verdict} {base}" if self.verdict else f" — baseline {base}"
        if self.verdict and self.difference is not None:  # how much, not only whether
            out += f" (Δ {fmt_interval(self.difference.value, self.difference)})"
        return out

    def verdict_text(self) -> str | None:
        if self.verdict is None or self.baseline_name is None:
            return None
        return f"{self.verdict} {self.baseline_name}"

    def to_dict(self) -> dict[str, Any]:
        base = None if self.baseline is None else self.baseline.to_dict()
        return {
            **self.figure.to_dict(),
            "baseline": None
            if self.baseline_name is None
            else {"name": self.baseline_name, **(base or {})},
            "verdict": self.verdict_text(),
            "note": self.note,
            "difference": None if self.difference is None else self.difference.to_dict(),
        }


def paired(a: Measurement, b: Measurement) -> bool:
    """Whether two measurements score the very same windows (so a paired difference exists)."""
    return len(a.episodes) == len(b.episodes) and bool(np.array_equal(a.episodes, b.episodes))


def strongest(figure: Figure, candidates: Sequence[Figure], better: str) -> Figure | None:
    """The candidate with the best point value, among those scored on the figure's windows."""
    have = [c for c in candidates if c.usable()]
    if figure.measurement is not None:
        same = [
            c for c in have if c.measurement is None or paired(figure.measurement, c.measurement)
        ]
        have = same or have
    if not have:
        return None
    sign = 1.0 if better == "lower" else -1.0
    return min(have, key=lambda c: sign * float(c.value))  # type: ignore[arg-type]


def verdict(a: Figure, b: Figure, better: str) -> tuple[str | None, str | None]:
    """``(verdict, None)`` from the paired interval of ``a - b``, or ``(None, why not)``."""
    decided, why, _ = verdict_and_difference(a, b, better)
    return decided, why


def verdict_and_difference(
    a: Figure, b: Figure, better: str
) -> tuple[str | None, str | None, Interval | None]:
    """``verdict``'s answer and the interval of the paired difference ``a - b`` it read."""
    if a.measurement is None or b.measurement is None:
        return None, NO_INTERVAL, None
    if not paired(a.measurement, b.measurement):
        return None, NOT_PAIRED, None
    episodes = len(np.unique(a.measurement.episodes))
    if episodes < MIN_EPISODES:
        return None, f"{episodes} episodes: too few for an interval", None
    if a.interval is None or b.interval is None:
        return None, NO_INTERVAL, None
    difference = a.measurement.minus(b.measurement).interval()
    return decide(difference, better), None, difference


def judge(
    figure: Figure,
    candidates: dict[str, Figure],
    better: str,
    *,
    degenerate: str | None = None,
) -> Judged:
    """``figure`` against the strongest of ``candidates`` (name -> figure) in the same space.

    ``degenerate``: the flag a non-finite figure gets (a ratio over a zero denominator).
    """
    if figure.flag is None and figure.value is not None and not math.isfinite(figure.value):
        figure.flag = degenerate or "not finite"
    out = Judged(figure)
    if figure.value is None and figure.flag is None:
        return out
    names = {id(f): n for n, f in candidates.items()}
    base = strongest(figure, list(candidates.values()), better)
    if base is not None:
        out.baseline, out.baseline_name = base, names[id(base)]
    if figure.flag is not None:
        out.note = figure.flag
        return out
    if base is None:
        out.note = "no baseline value"
        return out
    out.verdict, out.note, out.difference = verdict_and_difference(figure, base, better)
    return out


def versus(
    runs: Sequence[str], figures: dict[str, Figure], better: str
) -> list[dict[str, str | None]]:
    """Each pair of runs with a usable figure, compared by their paired interval."""
    have = [r for r in runs if r in figures and figures[r].usable()]
    out = []
    for i, a in enumerate(have):
        for b in have[i + 1 :]:
            v, why = verdict(figures[a], figures[b], better)
            out.append({"a": a, "b": b, "verdict": v, "note": why})
    return out


def versus_text(pairs: list[dict[str, str | None]]) -> str:
    """``jepa vs encoder_decoder: no better than`` (one per pair, '; ' between)."""
    return "; ".join(f"{p['a']} vs {p['b']}: {p['verdict'] or p['note']}" for p in pairs)
