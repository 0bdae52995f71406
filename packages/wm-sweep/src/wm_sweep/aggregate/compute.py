"""From per-seed headline figures to the aggregate: per game and pooled over games.

Per game and variant, for every headline row: each objective's mean over seeds with its
interval, beside its strongest trivial baseline (the baseline's mean, the mean paired
difference run − baseline with its interval, and in how many seeds wm-eval's own test-episode
verdict said "beats"); where the row compares runs (same space), the paired difference A - B
per seed with its interval, the probability of improvement and the verdict. Pooled over games
(stratified by game): the interquartile mean of each objective and the paired difference for
rows on one scale in every game (``Aggregate.normalised_rows``), and the probability of
improvement for every comparable row (it is free of units).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from wm_sweep.aggregate.read import BaselineScore, RowInfo, Scores
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


def baseline_summary(bases: dict[int, BaselineScore], settings: Aggregate) -> dict[str, Any] | None:
    """One objective's baseline over seeds: which it was, its mean, run − baseline, verdicts.

    The per-seed verdicts are wm-eval's, each from the episode-bootstrap interval of the paired
    difference on that seed's test windows; ``beats`` counts the seeds where it excluded 0.
    """
    if not bases:
        return None
    seeds = sorted(bases)
    names = Counter(bases[s].name for s in seeds)
    diffs = [bases[s].difference for s in seeds if bases[s].difference is not None]
    return {
        "name": " / ".join(names),
        "value": _d(_est(settings, [[bases[s].value for s in seeds]], _mean)),
        "difference": _d(_est(settings, [diffs], _mean)) if diffs else None,
        "verdicts": {str(s): bases[s].verdict for s in seeds},
        "beats": sum(bases[s].verdict.startswith("beats") for s in seeds),
        "seeds": len(seeds),
    }


def game_summary(
    objs: dict[str, Seeds],
    row: RowInfo,
    settings: Aggregate,
    bases: dict[str, dict[int, BaselineScore]] | None = None,
) -> dict[str, Any]:
    """One game: each objective over its seeds beside its baseline, and A vs B where the row
    compares runs."""
    a, b = (objs.get(o, {}) for o in OBJECTIVES)
    bases = bases or {}
    out: dict[str, Any] = {
        "objectives": {
            o: {
                **(_d(_est(settings, [list(objs.get(o, {}).values())], _mean)) or {}),
                "seeds": {str(s): v for s, v in sorted(objs.get(o, {}).items())},
                "baseline": baseline_summary(bases.get(o, {}), settings),
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
            bases = scores.baselines.get(key, {}).get(variant, {})
            per_game = {
                g: game_summary(objs, row, settings, bases.get(g))
                for g, objs in sorted(games.items())
            }
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
