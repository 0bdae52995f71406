"""Headline: figures copied by row key, each judged against the strongest trivial baseline in
its space by a paired interval; runs compared only in one space; degenerate ratios flagged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wm_eval import columns as C
from wm_eval.headline import HEADLINE_SPECS, build_headline
from wm_eval.report import Report, RowKeyError, Table
from wm_eval.stats import BEATS, NO_BETTER, WORSE, Measurement

RUNS = {
    "jepa": {"workflow": "jepa", "derived": []},
    "encoder_decoder": {"workflow": "encoder_decoder", "derived": []},
}
EPISODES = np.repeat(np.arange(12), 10)  # 12 episodes of 10 windows
JD = "jepa/dyn [trained on predicted]"
JT = "jepa/rew [trained on true]"
ED = "encoder_decoder/rew [trained on true]"
PIXELS_STATE = f"pixels, {C.POOLED}×{C.POOLED} pooled"


def per_window(mean: float, seed: int, spread: float = 0.01) -> np.ndarray:
    """Windows whose episodes share a random offset: a figure with real between-episode noise."""
    rng = np.random.default_rng(seed)
    return mean + rng.normal(0, spread, 12)[EPISODES] + rng.normal(0, spread / 5, len(EPISODES))


def M(values: np.ndarray) -> Measurement:
    return Measurement.mean(values, EPISODES)


def _table(name: str, columns: dict[str, bool], rows: dict[str, dict], split="test") -> Table:
    t = Table(name, name.title(), "synthetic")
    t.split = split
    for col, baseline in columns.items():
        t.add_column(col, baseline=baseline)
    for row, vals in rows.items():
        t.add_row(row)
        for col, v in vals.items():
            t.set(row, col, M(v) if isinstance(v, np.ndarray) else v)
    return t


def _tables() -> dict[str, Table]:
    """The tables the probes produce, with per-window scores, for a JEPA (with a derived
    decoder) and an encoder-decoder."""
    base = per_window(0.05, 0)
    recon = _table(
        "reconstruction",
        {
            "jepa/jepa_decoder": False,
            "encoder_decoder": False,
            C.COPY_FRAME: True,
            C.MEAN_FRAME: True,
            C.MEDIAN_FRAME: True,
            C.BLUR_FRAME: True,
        },
        {
            "l1": {
                "jepa/jepa_decoder": base + 0.0001 * np.sin(np.arange(len(EPISODES))),
                "encoder_decoder": base - 0.02,  # clearly better on every window
                C.COPY_FRAME: base + 0.01,
                C.MEAN_FRAME: base,  # the strongest baseline
                C.MEDIAN_FRAME: base + 0.005,
                C.BLUR_FRAME: base + 0.02,
            },
            "l1_objects": {
                "jepa/jepa_decoder": base + 0.1,
                "encoder_decoder": base + 0.1 + per_window(0, 5, 0.001),
                C.COPY_FRAME: base,
                C.MEAN_FRAME: base + 0.2,
            },
            "l1_background": {"encoder_decoder": base},
            "l1_changed": {"encoder_decoder": base, C.BLUR_FRAME: base + 0.1},
        },
    )
    lat_cols = {}
    for run in RUNS:
        lat_cols |= {
            run: False,
            C.copy_latent(run): True,
            C.mean_latent(run): True,
            C.linear_dynamics(run): True,
            C.shuffled_actions(run): True,
        }
    latent = _table(
        "rollout_latent",
        lat_cols,
        {
            "k=1": {
                "jepa": per_window(0.2, 1),
                C.copy_latent("jepa"): per_window(0.5, 2),
                C.mean_latent("jepa"): per_window(1.0, 3),
                C.linear_dynamics("jepa"): per_window(0.4, 4),
                C.shuffled_actions("jepa"): per_window(0.3, 5),
                "encoder_decoder": per_window(0.9, 6),
                C.copy_latent("encoder_decoder"): per_window(0.01, 7, 0.001),  # not jepa's
                C.linear_dynamics("encoder_decoder"): per_window(0.6, 8),
            },
            "k=2": {"jepa": per_window(0.5, 9), C.copy_latent("jepa"): per_window(0.6, 10)},
        },
    )
    latent.set_ratio("k=1", "encoder_decoder", 4.2e7, denominator=1e-9)
    pixels = _table(
        "rollout_pixels",
        {
            "jepa/jepa_decoder/latent loop": False,
            "jepa/jepa_decoder/pixel loop": False,
            "encoder_decoder/pixel loop": False,
            C.COPY_FRAME: True,
            C.BLUR_FRAME: True,
        },
        {
            "k=1": {"encoder_decoder/pixel loop": base},
            "k=3": {
                "jepa/jepa_decoder/latent loop": base + 0.5,
                "jepa/jepa_decoder/pixel loop": base + 0.01,
                "encoder_decoder/pixel loop": base,
                C.COPY_FRAME: base + 0.05,
                C.BLUR_FRAME: base + 0.03,
            },
        },
    )
    reward_cols = {"constant (train mean)": True}
    for stem in (JD, JT, ED):
        reward_cols |= {f"{stem}: true next": False, f"{stem}: predicted next": False}
        reward_cols[f"{stem}: copy-latent"] = True
    r = per_window(9.0, 11, 1.0)
    reward = _table(
        "reward",
        reward_cols,
        {
            "mse": {
                "constant (train mean)": r,
                f"{JD}: true next": r - 1,
                f"{JD}: predicted next": r - 2,
                f"{JT}: true next": r - 4,
                f"{JT}: predicted next": r - 3,
                f"{JT}: copy-latent": r - 2.5,
                f"{ED}: true next": r - 5,
                f"{ED}: predicted next": r + 31,
                f"{ED}: copy-latent": r - 4.5,
            },
            "mse_gap": {f"{JD}: predicted next": -1.0, f"{JT}: predicted next": 1.0},
        },
    )
    # the gap cells as the probe writes them: paired differences of the two MSE cells
    reward.set(
        "mse_gap",
        f"{JT}: predicted next",
        reward.measurement("mse", f"{JT}: predicted next").minus(
            reward.measurement("mse", f"{JT}: true next")
        ),
    )
    enc_cols = {"jepa": False, "encoder_decoder": False, "random-init conv": True}
    info = _table(
        "reward_information",
        {**enc_cols, C.PIXELS: True, C.CHANCE: True},
        {
            "auroc": {
                "jepa": per_window(0.7, 12),
                "encoder_decoder": per_window(0.7, 12) + per_window(0, 13, 0.002),
                "random-init conv": per_window(0.55, 14),
                C.PIXELS: per_window(0.9, 15),
                C.CHANCE: np.full(len(EPISODES), 0.5),
            }
        },
    )
    state = _table(
        "state",
        {**enc_cols, PIXELS_STATE: True, C.CONSTANT_STATE: True},
        {
            "r2/player_x": {"jepa": per_window(0.4, 16)},
            "mean": {
                "jepa": per_window(0.6, 17),
                "encoder_decoder": per_window(0.3, 18),
                "random-init conv": per_window(0.35, 19),
                PIXELS_STATE: per_window(0.4, 20),
                C.CONSTANT_STATE: per_window(0.0, 21),
            },
        },
    )
    collapse = _table(
        "collapse",
        enc_cols,
        {"effective_rank_frac": {"jepa": 0.6, "encoder_decoder": 0.06, "random-init conv": 0.7}},
    )
    rep = _table(
        "representation",
        enc_cols,
        {
            "trustworthiness/ram_state": {
                "jepa": per_window(0.67, 22),
                "encoder_decoder": per_window(0.63, 23),
                "random-init conv": per_window(0.66, 24),
            }
        },
    )
    rep.add_row("trustworthiness/ram_state", "trustworthiness vs RAM state (k=5)")
    tables = [recon, latent, pixels, reward, info, state, collapse, rep]
    return {t.name: t for t in tables}


@pytest.fixture(scope="module")
def headline():
    return build_headline(Report(runs=RUNS, tables=list(_tables().values())))


@pytest.fixture(scope="module")
def rows(headline):
    return headline.to_dict()["rows"]


def test_a_figure_equal_to_its_strongest_baseline_is_no_better(rows):
    jepa = rows["next_frame_l1"]["runs"]["jepa"]
    assert jepa["column"] == "jepa/jepa_decoder"
    assert jepa["baseline"]["name"] == C.MEAN_FRAME  # the best of the four pixel baselines
    assert jepa["verdict"] == f"{NO_BETTER} {C.MEAN_FRAME}"
    assert jepa["interval"]["low"] < jepa["value"] < jepa["interval"]["high"]


def test_a_figure_better_on_every_episode_beats(rows):
    ed = rows["next_frame_l1"]["runs"]["encoder_decoder"]
    assert ed["verdict"] == f"{BEATS} {C.MEAN_FRAME}"
    assert rows["next_frame_l1"]["run_vs_run"] == [
        {"a": "jepa", "b": "encoder_decoder", "verdict": WORSE, "note": None}
    ]


def test_a_verdict_shows_how_large_the_paired_difference_is(headline, rows):
    """'beats' by 0.0001 and by half the error read differently: the row carries the paired
    difference's interval that decided it, in report.json and in the markdown cell."""
    ed = rows["next_frame_l1"]["runs"]["encoder_decoder"]
    diff = ed["difference"]
    assert diff["high"] < 0  # beats a lower-is-better baseline: the whole interval below 0
    assert diff["low"] <= diff["value"] <= diff["high"]
    assert diff["value"] == pytest.approx(ed["value"] - ed["baseline"]["value"])
    assert "(Δ " in headline.to_markdown()
    assert rows["next_frame_l1"]["runs"]["jepa"]["difference"]["low"] < 0  # no better: spans 0


def test_runs_within_noise_are_no_better_than_each_other(rows):
    pair = rows["next_frame_l1_objects"]["run_vs_run"][0]
    assert pair["verdict"] == NO_BETTER
    assert rows["next_frame_l1_objects"]["runs"]["jepa"]["verdict"] == f"{WORSE} {C.COPY_FRAME}"
    assert rows["reward_information_auroc"]["run_vs_run"][0]["verdict"] == NO_BETTER


def test_latent_rows_use_only_the_runs_own_baselines_and_never_compare_runs(rows):
    lat = rows["latent_1step_error"]
    jepa = lat["runs"]["jepa"]
    # encoder_decoder's copy-latent (0.01) is lower but lives in another latent space
    assert jepa["baseline"]["name"] == C.shuffled_actions("jepa")
    assert jepa["verdict"] == f"{BEATS} {C.shuffled_actions('jepa')}"
    assert lat["run_vs_run"] is None and lat["space"] == "latent"
    later = rows["latent_rollout_error"]
    assert later["source"]["row"] == "k=2" and later["metric"].endswith("k=2 (own latent space)")


def test_a_degenerate_latent_variance_is_flagged_not_printed(headline, rows):
    ed = rows["latent_1step_error"]["runs"]["encoder_decoder"]
    assert ed["flag"] == "degenerate (latent variance ~0)"
    assert ed["verdict"] is None
    md = headline.to_markdown()
    assert "degenerate (latent variance ~0)" in md
    assert "4.2e+07" not in md and "4.200e+07" not in md
    table = _tables()["rollout_latent"]
    assert "degenerate (latent variance ~0)" in table.to_markdown()


def test_a_non_finite_latent_ratio_is_flagged_too():
    tables = _tables()
    tables["rollout_latent"].set("k=1", "jepa", float("inf"))
    rows = build_headline(Report(runs=RUNS, tables=list(tables.values()))).to_dict()["rows"]
    assert rows["latent_1step_error"]["runs"]["jepa"]["flag"] == "degenerate (latent variance ~0)"


def test_decoded_rollout_reads_the_re_encode_protocol_at_the_last_k(rows):
    px = rows["decoded_rollout_error"]
    assert px["source"]["row"] == "k=3"
    assert px["source"]["columns"]["jepa"] == "jepa/jepa_decoder/pixel loop"
    assert px["runs"]["jepa"]["baseline"]["name"] == C.BLUR_FRAME
    assert px["runs"]["encoder_decoder"]["verdict"] == f"{BEATS} {C.BLUR_FRAME}"


def test_reward_rows_judge_heads_against_constant_and_copied_latent(rows):
    true, pred, gap = (
        rows[k] for k in ("reward_mse_true_next", "reward_mse_predicted_next", "reward_mse_gap")
    )
    assert all(v is not None for v in true["values"].values())
    assert true["source"]["columns"]["jepa"] == f"{JT}: true next"
    assert true["runs"]["jepa"]["verdict"] == f"{BEATS} constant (train mean)"
    # the predicted-next head of the encoder-decoder is worse than feeding it z' = z
    ed = pred["runs"]["encoder_decoder"]
    assert ed["baseline"]["name"] == f"{ED}: head fed z' = z"
    assert ed["verdict"] == f"{WORSE} {ED}: head fed z' = z"
    assert gap["runs"]["jepa"]["verdict"] == f"{WORSE} true next latent"
    assert gap["runs"]["encoder_decoder"]["value"] is None
    assert gap["run_vs_run"] is None


def test_probe_rows_take_the_strongest_of_random_init_pixels_and_constant(rows):
    auroc = rows["reward_information_auroc"]["runs"]["jepa"]
    assert auroc["baseline"]["name"] == C.PIXELS
    assert auroc["verdict"] == f"{WORSE} {C.PIXELS}"
    state = rows["state_probe_mean"]
    assert state["runs"]["jepa"]["baseline"]["name"] == PIXELS_STATE
    assert state["runs"]["jepa"]["verdict"] == f"{BEATS} {PIXELS_STATE}"
    assert state["run_vs_run"][0]["verdict"] == BEATS


def test_figures_without_per_window_scores_get_no_verdict(headline, rows):
    er = rows["effective_rank_frac"]["runs"]["jepa"]
    assert er["verdict"] is None and er["note"] == "no interval"
    assert er["baseline"]["name"] == "random-init conv"
    line = next(x for x in headline.to_markdown().splitlines() if "effective rank" in x)
    assert "0.6 (no interval) — baseline random-init conv 0.7" in line


def test_no_run_is_bolded_and_the_markdown_has_a_run_vs_run_column(headline):
    md = headline.to_markdown()
    assert "**" not in md.split("| metric |", 1)[1]
    assert "| metric | better | jepa | encoder_decoder | run vs run |" in md
    assert "— (separate latent spaces)" in md
    assert "jepa vs encoder_decoder: worse than" in md
    assert "*Every figure is scored on the test split.*" in md


def test_different_windows_are_not_paired():
    tables = _tables()
    recon = tables["reconstruction"]
    other = Measurement.mean(per_window(0.01, 30), np.repeat(np.arange(100, 112), 10))
    recon.set("l1", "encoder_decoder", other)
    rows = build_headline(Report(runs=RUNS, tables=list(tables.values()))).to_dict()["rows"]
    assert rows["next_frame_l1"]["run_vs_run"][0]["note"] == "not paired (different windows)"


@pytest.mark.parametrize(
    ("table", "key"),
    [("reconstruction", "l1"), ("reward", "mse"), ("collapse", "effective_rank_frac")],
)
def test_a_probe_table_without_a_headline_key_fails(table, key):
    tables = _tables()
    t = tables[table]
    t.rows[f"{key}_renamed"] = t.rows.pop(key)
    with pytest.raises(RowKeyError, match=f"table '{table}' has no row '{key}'"):
        build_headline(Report(runs=RUNS, tables=list(tables.values())))


def test_every_spec_names_its_probe_and_a_unique_key():
    from wm_eval.probes import PROBES

    keys = [k for spec in HEADLINE_SPECS for k in spec.keys]
    assert len(keys) == len(set(keys)) == 17
    assert all(spec.probe in PROBES for spec in HEADLINE_SPECS)


def test_missing_probes_and_components_give_na_without_crashing():
    only = [_tables()["collapse"]]
    runs = {**RUNS, "crashed": {"workflow": "jepa", "derived": []}}
    headline = build_headline(Report(runs=runs, tables=only))
    rows = headline.to_dict()["rows"]
    assert len(rows) == 17
    for key, row in rows.items():
        assert set(row["values"]) == {"jepa", "encoder_decoder", "crashed"}
        assert row["values"]["crashed"] is None
        if key != "effective_rank_frac":
            assert all(v is None for v in row["values"].values()), key
    md = headline.to_markdown()
    assert "| reward MSE, true next latent | lower | n/a | n/a | n/a | — |" in md
    assert build_headline(Report(runs={}, tables=[])).to_markdown().count("\n") > 5


def test_report_puts_headline_first_and_tables_say_their_split(tmp_path):
    rep = Report(runs=RUNS, tables=list(_tables().values()), notes=["a note"])
    rep.headline = build_headline(rep)
    md_path, js_path = rep.write(tmp_path)
    md = md_path.read_text()
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[:3] == [
        "## Runs",
        "## Headline: which world model is better",
        "## Reconstruction",
    ]
    assert "*Scored on the test split (12 episodes, 120 windows).*" in md
    data = json.loads(js_path.read_text())
    assert list(data)[:2] == ["runs", "headline"]
    assert data["headline"]["columns"] == ["jepa", "encoder_decoder"]
    assert data["tables"]["reconstruction"]["scored"] == [{"episodes": 12, "windows": 120}]
    assert data["tables"]["rollout_latent"]["flags"] == {
        "k=1": {"encoder_decoder": "degenerate (latent variance ~0)"}
    }
