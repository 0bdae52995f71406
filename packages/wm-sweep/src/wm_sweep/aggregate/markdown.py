"""``aggregate.md``: the aggregate as tables, pooled over games first, then per game."""

from __future__ import annotations

import math
from typing import Any

from wm_sweep.spec import OBJECTIVES

__all__ = ["fmt", "to_markdown"]

NA = "n/a"


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"


def cell(est: dict[str, Any] | None) -> str:
    """``0.0123 [0.0101, 0.0140]`` (value and interval), or the value alone."""
    if not est or est.get("value") is None:
        return NA
    if est.get("low") is None or est.get("high") is None:
        return fmt(est["value"])
    return f"{fmt(est['value'])} [{fmt(est['low'])}, {fmt(est['high'])}]"


def _verdict(summary: dict[str, Any] | None, comparable: bool) -> str:
    if summary is None:
        return NA
    if not comparable:
        return "— (not compared: separate latent spaces or no paired figure)"
    text = summary.get("verdict") or ""
    note = summary.get("note")
    if text and summary.get("winner"):
        return f"**{text}**"
    return f"{text} ({note})" if text and note else (text or note or NA)


def _method(result: dict[str, Any]) -> list[str]:
    s = result["settings"]
    a, b = OBJECTIVES
    level = round(100 * s["confidence"])
    return [
        f"Each figure is a mean over training seeds with its {level}% percentile bootstrap "
        f"interval over seeds (`scipy.stats.bootstrap`, {s['n_resamples']} resamples). "
        f"`{a} − {b}` is the paired difference per seed (the same store, split and seed), "
        f"averaged over seeds. `P({a} better)` is the probability of improvement as rliable "
        "defines it: the chance that a random seed of one beats a random seed of the other "
        "(ties count half), averaged over games. Across games the bootstrap is stratified "
        "(seeds resampled within each game), each objective's figure is the interquartile "
        "mean (IQM) of all its runs, and it is given only for rows on one scale in every game "
        f"({', '.join(s['normalised_rows'])}); pixel errors and reward MSE are judged per game.",
        "",
        f"A winner is named only where the interval of the paired difference excludes 0 and "
        f"at least {s['min_seeds']} seeds are paired (a percentile bootstrap over fewer seeds "
        "is narrower than the truth: over 3 seeds it is about their range); otherwise "
        "'no better than'. Rows whose figures live in each model's own latent space are never "
        "compared between models, as in wm-eval's headline.",
    ]


def _table(rows: dict[str, Any], variant: str, game: str | None, label: str) -> list[str]:
    a, b = OBJECTIVES
    head = f"| metric | better | {a}{label} | {b}{label} | {a} − {b} | P({a} better) | verdict |"
    lines = [head, "|---|---|---:|---:|---:|---:|---|"]
    for row in rows.values():
        by_variant = row["variants"].get(variant)
        if by_variant is None:
            continue
        summary = by_variant["pooled"] if game is None else by_variant["games"].get(game)
        if summary is None:
            continue
        if game is None and not row["normalised"] and not row["comparable"]:
            continue
        objectives = summary.get("objectives") or {}
        cells = [cell(objectives.get(o)) for o in OBJECTIVES]
        diff = cell(summary.get("difference")) if row["comparable"] else "—"
        poi = cell(summary.get("probability_of_improvement")) if row["comparable"] else "—"
        verdict = _verdict(summary, row["comparable"])
        lines.append(
            f"| {row['metric']} | {row['better']} | {' | '.join(cells)} | {diff} | {poi} | "
            f"{verdict} |"
        )
    return lines


def _baselines(rows: dict[str, Any], variant: str, game: str) -> list[str]:
    """Each objective beside its strongest trivial baseline in the same space."""
    lines = [
        "Against the strongest trivial baseline in the same space (wm-eval's choice per seed): "
        "the baseline's mean over seeds, the mean paired difference run − baseline, and the "
        "seeds whose own test-episode interval of that difference excluded 0 in the good "
        "direction ('beats').",
        "",
        "| metric | run | baseline | baseline mean | run − baseline | beats in |",
        "|---|---|---|---:|---:|---:|",
    ]
    found = False
    for row in rows.values():
        summary = row["variants"].get(variant, {}).get("games", {}).get(game)
        for o, est in ((summary or {}).get("objectives") or {}).items():
            base = (est or {}).get("baseline")
            if not base:
                continue
            found = True
            lines.append(
                f"| {row['metric']} | {o} | {base['name']} | {cell(base['value'])} | "
                f"{cell(base['difference'])} | {base['beats']} of {base['seeds']} seeds |"
            )
    return lines if found else []


def _per_seed(rows: dict[str, Any], variant: str, seeds: list[int]) -> list[str]:
    a, b = OBJECTIVES
    lines = [
        f"Paired differences `{a} − {b}` per seed:",
        "",
        "| metric | game | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|---|" + "---:|" * len(seeds),
    ]
    for row in rows.values():
        if not row["comparable"] or variant not in row["variants"]:
            continue
        for game, summary in row["variants"][variant]["games"].items():
            per = (summary.get("difference") or {}).get("seeds", {})
            values = [fmt(per.get(str(s))) for s in seeds]
            lines.append(f"| {row['metric']} | {game} | " + " | ".join(values) + " |")
    return lines


def to_markdown(result: dict[str, Any]) -> str:
    sweep, ev = result["sweep"], result["evaluations"]
    lines = [
        f"# Sweep aggregate: {sweep['name']}",
        "",
        f"Games: {', '.join(sweep['games'])}. Training seeds: "
        f"{', '.join(map(str, sweep['seeds']))}. Variants: {', '.join(sweep['variants'])}. "
        f"Evaluations read: {ev['found']} of {ev['planned']}.",
        "",
        *_method(result),
        "",
    ]
    rows = result["rows"]
    for variant in sweep["variants"]:
        lines += [f"## Variant `{variant}`", ""]
        if len(sweep["games"]) > 1:
            lines += ["### All games (stratified over games; IQM)", ""]
            lines += [*_table(rows, variant, None, " (IQM)"), ""]
        for game in sweep["games"]:
            n = _seed_count(rows, variant, game)
            lines += [f"### {game} ({n} seeds)", "", *_table(rows, variant, game, ""), ""]
            base = _baselines(rows, variant, game)
            lines += [*base, ""] if base else []
        lines += [*_per_seed(rows, variant, sweep["seeds"]), ""]
        for caption, path in result["plots"].get(variant, []):
            lines += [f"**{caption}**", "", f"![{caption}]({path})", ""]
    lines += _not_read(result)
    return "\n".join(lines).rstrip() + "\n"


def _seed_count(rows: dict[str, Any], variant: str, game: str) -> int:
    seeds: set[str] = set()
    for row in rows.values():
        summary = row["variants"].get(variant, {}).get("games", {}).get(game)
        for o in (summary or {}).get("objectives", {}).values():
            seeds |= set(o.get("seeds", {}))
    return len(seeds)


def _not_read(result: dict[str, Any]) -> list[str]:
    lines = []
    missing = result["evaluations"]["missing"]
    if missing:
        lines += ["## Missing evaluations", ""]
        lines += [
            f"- {m['game']} / {m['variant']} / seed {m['seed']}: {m['report']}" for m in missing
        ]
        lines.append("")
    if result["flagged"]:
        lines += ["## Figures left out (flagged by wm-eval)", ""]
        lines += [
            f"- {f['row']}, {f['run']}, {f['game']} / {f['variant']} / seed {f['seed']}: "
            f"{f['flag']}"
            for f in result["flagged"]
        ]
        lines.append("")
    return lines
