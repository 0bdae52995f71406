"""From per-seed headline figures to the aggregate: per game and pooled over games.

Per game and variant, for every headline row: each objective's mean over seeds with its
interval; where the row compares runs (same space), the paired difference A - B per seed with
its interval, the probability of improvement and the verdict. Pooled over games (stratified
by game): the interquartile mean of each objective and the paired difference for rows on one
scale in every game (``Aggregate.normalised_rows``), and the probability of improvement for
every comparable row (it is free of units).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wm_sweep.aggregate.read import RowInfo, Scores
from wm_sweep.aggregate.stats import (
    Estimate,
    estimate,
    iqm,
    mean_of_games,
    paired_verdict,
    probability_of_improvement,
)
from wm_sweep.spec import OBJECTIVES, Aggregate

__all__ = ["summarise"]

Seeds = dict[int, float]


def _mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(samples[0], axis=axis)


def _est(settings: Aggregate, samples: list, statistic, n: int | None = None) -> Estimate | None:
    return estimate(
        samples,
        statistic,
        confidence=settings.confidence,
        n_resamples=settings.n_resamples,
        seed=settings.seed,
        n=n,
    )


def _d(est: Estimate | None) -> dict[str, Any] | None:
    return None if est is None else est.to_dict()


def _paired(a: Seeds, b: Seeds) -> dict[int, float]:
    return {s: a[s] - b[s] for s in sorted(a) if s in b}


def _verdict(out: dict, diff: Estimate | None, row: RowInfo, settings: Aggregate) -> None:
    text, winner, note = paired_verdict(diff, row.better, OBJECTIVES, settings.min_seeds)
    out.update(verdict=text, winner=winner, note=note)


def game_summary(objs: dict[str, Seeds], row: RowInfo, settings: Aggregate) -> dict[str, Any]:
    """One game: each objective over its seeds, and A vs B where the row compares runs."""
    a, b = (objs.get(o, {}) for o in OBJECTIVES)
    out: dict[str, Any] = {
        "objectives": {
            o: {
                **(_d(_est(settings, [list(objs.get(o, {}).values())], _mean)) or {}),
                "seeds": {str(s): v for s, v in sorted(objs.get(o, {}).items())},
            }
            for o in OBJECTIVES
        }
    }
    if not row.comparable:
        return out
    diffs = _paired(a, b)
    diff = _est(settings, [list(diffs.values())], _mean) if diffs else None
    out["difference"] = (
        None
        if diff is None
        else {
            **diff.to_dict(),
            "seeds": {str(s): v for s, v in diffs.items()},
        }
    )
    poi = probability_of_improvement(row.better)
    both = a and b
    out["probability_of_improvement"] = _d(
        _est(settings, [list(a.values()), list(b.values())], poi) if both else None
    )
    _verdict(out, diff, row, settings)
    return out


def pooled_summary(
    games: dict[str, dict[str, Seeds]], row: RowInfo, settings: Aggregate, normalised: bool
) -> dict[str, Any]:
    """All games together, seeds resampled within each game."""
    out: dict[str, Any] = {"statistic": "IQM" if normalised else None, "objectives": None}
    if normalised:
        out["objectives"] = {
            o: _d(_est(settings, [list(g.get(o, {}).values()) for g in games.values()], iqm))
            for o in OBJECTIVES
            if all(g.get(o) for g in games.values())
        }
    if not row.comparable:
        return out
    a_name, b_name = OBJECTIVES
    ready = [g for g in games.values() if g.get(a_name) and g.get(b_name)]
    poi_samples = [list(g[o].values()) for g in ready for o in OBJECTIVES]
    poi = probability_of_improvement(row.better)
    out["probability_of_improvement"] = _d(_est(settings, poi_samples, poi) if ready else None)
    diff = None
    if normalised:
        diffs = [list(_paired(g[a_name], g[b_name]).values()) for g in ready]
        diffs = [d for d in diffs if d]
        if diffs and len(diffs) == len(games):
            diff = _est(settings, diffs, mean_of_games, n=sum(len(d) for d in diffs))
        out["difference"] = _d(diff)
        _verdict(out, diff, row, settings)
    else:
        out["difference"] = None
        out.update(
            verdict=None,
            winner=None,
            note="units differ between games: see each game's verdict and P(improvement)",
        )
    return out


def summarise(scores: Scores, settings: Aggregate) -> dict[str, dict[str, Any]]:
    """``rows[key]`` with the row's description and, per variant, per game and pooled."""
    out = {}
    for key, row in scores.rows.items():
        normalised = key in settings.normalised_rows
        variants = {}
        for variant, games in scores.values.get(key, {}).items():
            per_game = {g: game_summary(objs, row, settings) for g, objs in sorted(games.items())}
            pooled = pooled_summary(games, row, settings, normalised) if len(games) > 1 else None
            variants[variant] = {"games": per_game, "pooled": pooled}
        out[key] = {
            "metric": row.metric,
            "better": row.better,
            "space": row.space,
            "comparable": row.comparable,
            "normalised": normalised,
            "variants": variants,
        }
    return out
