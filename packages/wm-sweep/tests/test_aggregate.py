"""The aggregate on synthetic report.json files whose answers are known: a clear winner, a
tie, rows that must not be compared, flagged and missing figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from wm_sweep.aggregate import aggregate
from wm_sweep.aggregate.stats import estimate, iqm, probability_of_improvement
from wm_sweep.cli import main
from wm_sweep.spec import Aggregate

GAMES = {"assault": 0.02, "breakout": 0.5}  # very different pixel-error scales
SEEDS = list(range(6))
RNG = np.random.default_rng(0)


def _run(value, flag=None, baseline=None):
    """A headline cell; with ``baseline`` (lower is better here) its name, difference, verdict."""
    cell = {"value": value, "flag": flag, "interval": None}
    if baseline is not None:
        verdict = "beats" if value < baseline else "worse than"
        cell.update(
            baseline={"name": "copy-last-frame", "value": baseline, "flag": None},
            difference={"value": value - baseline},
            verdict=f"{verdict} copy-last-frame",
        )
    return cell


def _row(metric, better, space, jepa, ed, *, compared=True, flag=None, baseline=None):
    return {
        "metric": metric,
        "better": better,
        "space": space,
        "values": {"jepa": jepa, "encoder_decoder": ed},
        "runs": {
            "jepa": _run(jepa, flag, baseline),
            "encoder_decoder": _run(ed, None, baseline),
        },
        "run_vs_run": [{"a": "jepa", "b": "encoder_decoder", "verdict": None}]
        if compared
        else None,
    }


def _truth():
    """Per (game, seed): the figures written into the synthetic reports."""
    truth = {}
    for game, scale in GAMES.items():
        for seed in SEEDS:
            ed = scale * (1 + 0.05 * RNG.standard_normal())
            truth[game, seed] = {
                # JEPA clearly lower (better) on every seed: a winner
                "next_frame_l1": (ed * 0.8, ed),
                # symmetric noise around the same level: a tie
                "state_probe_mean": (
                    0.3 + 0.05 * RNG.standard_normal(),
                    0.3 + 0.05 * RNG.standard_normal(),
                ),
                # own latent spaces: never compared
                "latent_1step_error": (0.1 + 0.01 * seed, 5.0 + seed),
            }
    return truth


def write_reports(root: Path, truth: dict, *, flag_seed: int | None = None) -> None:
    for (game, seed), rows in truth.items():
        l1, probe, latent = (
            rows["next_frame_l1"],
            rows["state_probe_mean"],
            rows["latent_1step_error"],
        )
        flag = "degenerate (latent variance ~0)" if seed == flag_seed else None
        headline = {
            "columns": ["jepa", "encoder_decoder"],
            "rows": {
                # copy-last-frame between the two: the JEPA beats it, the ED does not
                "next_frame_l1": _row(
                    "next-frame L1", "lower", "pixels", *l1, baseline=0.9 * l1[1]
                ),
                "state_probe_mean": _row("state probes", "higher", "probe", *probe),
                "latent_1step_error": _row(
                    "latent error", "lower", "latent", *latent, compared=False, flag=flag
                ),
            },
        }
        out = root / "eval" / game / "default" / f"seed{seed}" / "report.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"headline": headline, "tables": {}}))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    truth = _truth()
    write_reports(root, truth, flag_seed=5)
    result = aggregate(root, settings=Aggregate(n_resamples=500))
    return root, truth, result


def test_files_written(sweep):
    root, _, result = sweep
    out = root / "aggregate"
    assert json.loads((out / "aggregate.json").read_text())["format"] == "wm-sweep-aggregate"
    md = (out / "aggregate.md").read_text()
    for variant_plot in ("intervals_default.png", "differences_default.png", "poi_default.png"):
        assert (out / "plots" / variant_plot).stat().st_size > 1000
        assert f"plots/{variant_plot}" in md
    assert result["evaluations"]["found"] == 12


def test_means_and_paired_difference_are_the_seed_statistics(sweep):
    _, truth, result = sweep
    game = result["rows"]["next_frame_l1"]["variants"]["default"]["games"]["assault"]
    jepa = [truth["assault", s]["next_frame_l1"][0] for s in SEEDS]
    ed = [truth["assault", s]["next_frame_l1"][1] for s in SEEDS]
    assert game["objectives"]["jepa"]["value"] == pytest.approx(np.mean(jepa))
    assert game["objectives"]["jepa"]["low"] <= np.mean(jepa) <= game["objectives"]["jepa"]["high"]
    assert game["difference"]["value"] == pytest.approx(np.mean(np.subtract(jepa, ed)))
    assert game["difference"]["seeds"]["3"] == pytest.approx(jepa[3] - ed[3])
    assert game["probability_of_improvement"]["value"] == pytest.approx(1.0)


def test_each_objective_sits_beside_its_baseline(sweep):
    root, truth, result = sweep
    game = result["rows"]["next_frame_l1"]["variants"]["default"]["games"]["breakout"]
    jepa, ed = (game["objectives"][o]["baseline"] for o in ("jepa", "encoder_decoder"))
    copy = [0.9 * truth["breakout", s]["next_frame_l1"][1] for s in SEEDS]
    assert jepa["name"] == "copy-last-frame"
    assert jepa["value"]["value"] == pytest.approx(np.mean(copy))
    gap = [truth["breakout", s]["next_frame_l1"][0] - c for s, c in zip(SEEDS, copy, strict=True)]
    assert jepa["difference"]["value"] == pytest.approx(np.mean(gap))
    assert (jepa["beats"], ed["beats"], ed["seeds"]) == (len(SEEDS), 0, len(SEEDS))
    md = (root / "aggregate" / "aggregate.md").read_text()
    assert "| next-frame L1 | jepa | copy-last-frame |" in md and "6 of 6 seeds |" in md
    # rows whose reports name no baseline carry none
    probe = result["rows"]["state_probe_mean"]["variants"]["default"]["games"]["assault"]
    assert probe["objectives"]["jepa"]["baseline"] is None


def test_clear_winner_is_named(sweep):
    root, _, result = sweep
    row = result["rows"]["next_frame_l1"]
    for game in GAMES:
        summary = row["variants"]["default"]["games"][game]
        assert summary["difference"]["high"] < 0
        assert summary["winner"] == "jepa"
        assert summary["verdict"] == "jepa beats encoder_decoder"
    pooled = row["variants"]["default"]["pooled"]
    assert pooled["difference"] is None  # pixel errors are not pooled across games
    assert pooled["probability_of_improvement"]["value"] == pytest.approx(1.0)
    assert "**jepa beats encoder_decoder**" in (root / "aggregate" / "aggregate.md").read_text()


def test_tie_is_no_better_than(sweep):
    _, _, result = sweep
    row = result["rows"]["state_probe_mean"]
    assert row["normalised"]
    for summary in [
        *row["variants"]["default"]["games"].values(),
        row["variants"]["default"]["pooled"],
    ]:
        assert summary["difference"]["low"] < 0 < summary["difference"]["high"]
        assert summary["winner"] is None
        assert summary["verdict"] == "jepa no better than encoder_decoder"


def test_pooled_iqm_and_stratified_difference(sweep):
    _, truth, result = sweep
    pooled = result["rows"]["state_probe_mean"]["variants"]["default"]["pooled"]
    jepa = [truth[g, s]["state_probe_mean"][0] for g in GAMES for s in SEEDS]
    assert pooled["statistic"] == "IQM"
    assert pooled["objectives"]["jepa"]["value"] == pytest.approx(sps.trim_mean(jepa, 0.25))
    diffs = {g: [np.subtract(*truth[g, s]["state_probe_mean"]) for s in SEEDS] for g in GAMES}
    expected = np.mean([np.mean(d) for d in diffs.values()])
    assert pooled["difference"]["value"] == pytest.approx(expected)
    assert pooled["difference"]["n"] == 12


def test_latent_rows_are_not_compared_and_flags_are_left_out(sweep):
    root, _, result = sweep
    row = result["rows"]["latent_1step_error"]
    assert not row["comparable"]
    summary = row["variants"]["default"]["games"]["assault"]
    assert "difference" not in summary
    assert set(summary["objectives"]["jepa"]["seeds"]) == {
        "0",
        "1",
        "2",
        "3",
        "4",
    }  # seed 5 flagged
    assert len(result["flagged"]) == 2
    assert "Figures left out" in (root / "aggregate" / "aggregate.md").read_text()


def test_too_few_seeds_name_no_winner(tmp_path):
    truth = {k: v for k, v in _truth().items() if k[1] < 3}
    write_reports(tmp_path, truth)
    result = aggregate(tmp_path, settings=Aggregate(n_resamples=200, min_seeds=5))
    summary = result["rows"]["next_frame_l1"]["variants"]["default"]["games"]["assault"]
    assert summary["difference"]["high"] < 0  # the interval alone would name one
    assert summary["winner"] is None
    assert summary["note"] == "3 seeds: too few for a verdict (needs 5)"
    result = aggregate(tmp_path, settings=Aggregate(n_resamples=200, min_seeds=3))
    summary = result["rows"]["next_frame_l1"]["variants"]["default"]["games"]["assault"]
    assert summary["winner"] == "jepa"


def test_stratified_bootstrap_keeps_games_apart():
    """Resampling within each game: a pooled mean of game means never mixes the two scales."""
    a, b = np.array([0.0, 0.0, 0.0]), np.array([10.0, 10.0, 10.0])
    est = estimate([a, b], iqm, confidence=0.95, n_resamples=200, seed=0)
    assert est.value == est.low == est.high == pytest.approx(5.0)
    poi = probability_of_improvement("higher")
    same = estimate([a, a], poi, confidence=0.95, n_resamples=200, seed=0)
    assert same.value == pytest.approx(0.5)  # ties count half


def test_cli_aggregate_and_missing_reports(tmp_path, capsys):
    truth = {k: v for k, v in _truth().items() if k[0] == "assault"}
    write_reports(tmp_path, truth)
    plan = {
        "cwd": str(tmp_path),
        "settings": {"aggregate": {"n_resamples": 200}},
        "stages": [
            {
                "kind": "eval",
                "output": f"eval/assault/default/seed{s}",
                "labels": {"game": "assault", "variant": "default", "seed": s},
            }
            for s in [*SEEDS, 9]
        ],
    }
    (tmp_path / "sweep.json").write_text(json.dumps(plan))
    assert main(["aggregate", "--sweep-dir", str(tmp_path)]) == 0
    assert "from 6 of 7 evaluations" in capsys.readouterr().out
    result = json.loads((tmp_path / "aggregate" / "aggregate.json").read_text())
    assert result["settings"]["n_resamples"] == 200
    assert result["evaluations"]["missing"][0]["seed"] == 9
    assert "Missing evaluations" in (tmp_path / "aggregate" / "aggregate.md").read_text()


def test_cli_aggregate_without_reports_is_one_line(tmp_path, capsys):
    assert main(["aggregate", "--sweep-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("wm-sweep: error: --sweep-dir") and "\n" not in err
