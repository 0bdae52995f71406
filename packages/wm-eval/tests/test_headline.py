"""Headline table: values copied from the probe tables by row key, baselines beside them, n/a
when a probe or component is absent, an error when a probe table lacks a key it reads."""

from __future__ import annotations

import json

import pytest

from wm_eval.headline import HEADLINE_SPECS, build_headline
from wm_eval.report import Report, RowKeyError, Table

RUNS = {
    "jepa": {"workflow": "jepa", "derived": []},
    "encoder_decoder": {"workflow": "encoder_decoder", "derived": []},
}
GAP = "mse_gap"
LABELS = {  # a few labels, to show that the headline reads keys and shows labels
    "l1": "L1",
    "l1_changed": "L1 on changed pixels",
    "trustworthiness/pixels": "trustworthiness vs pixels (k=5)",
    "trustworthiness/ram_state": "trustworthiness vs RAM state (k=5)",
}


def _table(name: str, columns: dict[str, bool], rows: dict[str, dict[str, float | None]]) -> Table:
    t = Table(name, name.title(), "synthetic")
    for col, baseline in columns.items():
        t.add_column(col, baseline=baseline)
    for row, vals in rows.items():
        t.add_row(row, LABELS.get(row))
        for col, v in vals.items():
            t.set(row, col, v)
    return t


def _tables() -> list[Table]:
    """What the probes produce for a JEPA without a decoder and an encoder-decoder."""
    enc_cols = {"jepa": False, "encoder_decoder": False, "random-init conv": True}
    jd = "jepa/dyn [trained on predicted]"
    jt = "jepa/rew [trained on true]"
    ed = "encoder_decoder/rew [trained on true]"
    reward_cols = {"constant (train mean)": True}
    for stem in (jd, jt, ed):
        reward_cols |= {f"{stem}: true next": False, f"{stem}: predicted next": False}
        reward_cols[f"{stem}: copy-latent"] = True
    return [
        _table(
            "reconstruction",
            {"jepa": False, "encoder_decoder": False, "copy-last-frame": True},
            {
                "l1": {"jepa": None, "encoder_decoder": 0.04, "copy-last-frame": 0.02},
                "l1_changed": {"encoder_decoder": 0.3, "copy-last-frame": 0.5},
            },
        ),
        _table(
            "rollout",
            {
                "jepa": False,
                "jepa · copy-latent": True,
                "encoder_decoder": False,
                "encoder_decoder · copy-latent": True,
            },
            {
                "k=1": {
                    "jepa": 0.2,
                    "jepa · copy-latent": 0.25,
                    "encoder_decoder": 80.0,
                    "encoder_decoder · copy-latent": 0.15,
                },
                "k=2": {"jepa": 20.0},
            },
        ),
        _table(
            "rollout_pixels",
            {"jepa": False, "encoder_decoder": False, "copy-last-frame": True},
            {
                "k=1": {"encoder_decoder": 0.01, "copy-last-frame": 0.005},
                "k=3": {"encoder_decoder": 0.03, "copy-last-frame": 0.02},
            },
        ),
        _table(
            "reward",
            reward_cols,
            {
                "mse": {
                    "constant (train mean)": 9.0,
                    f"{jd}: true next": 8.0,
                    f"{jd}: predicted next": 7.0,
                    f"{jt}: true next": 5.0,
                    f"{jt}: predicted next": 6.0,
                    f"{jt}: copy-latent": 6.5,
                    f"{ed}: true next": 4.0,
                    f"{ed}: predicted next": 40.0,
                    f"{ed}: copy-latent": 4.5,
                },
                GAP: {f"{jd}: predicted next": -1.0, f"{jt}: predicted next": 1.0},
            },
        ),
        _table(
            "reward_information",
            {**enc_cols, "pixels, 16×16 pooled (s, s')": True, "chance": True},
            {
                "auroc": {
                    "jepa": 0.7,
                    "encoder_decoder": 0.6,
                    "random-init conv": 0.55,
                    "pixels, 16×16 pooled (s, s')": 0.9,
                    "chance": 0.5,
                }
            },
        ),
        _table(
            "state",
            {**enc_cols, "constant (train mean / majority)": True},
            {
                "r2/score": {"jepa": 0.5, "encoder_decoder": 0.2, "random-init conv": 0.3},
                "r2/player_x": {"jepa": 0.1, "encoder_decoder": None, "random-init conv": 0.1},
                "accuracy/lives": {"jepa": 0.9, "encoder_decoder": 0.9},
            },
        ),
        _table(
            "collapse",
            enc_cols,
            {
                "effective_rank_frac": {
                    "jepa": 0.6,
                    "encoder_decoder": 0.06,
                    "random-init conv": 0.7,
                }
            },
        ),
        _table(
            "representation",
            enc_cols,
            {
                "trustworthiness/pixels": {"jepa": 0.1},
                "trustworthiness/ram_state": {
                    "jepa": 0.67,
                    "encoder_decoder": 0.63,
                    "random-init conv": 0.66,
                },
            },
        ),
    ]


def _rows(report: Report) -> dict:
    return build_headline(report).to_dict()["rows"]


def test_values_and_baselines_are_copied_from_the_tables():
    rows = _rows(Report(runs=RUNS, tables=_tables()))
    l1 = rows["next_frame_l1"]
    assert l1["values"] == {"jepa": None, "encoder_decoder": 0.04}
    assert l1["baseline"] == {"name": "copy-last-frame", "values": {"copy-last-frame": 0.02}}
    assert l1["better"] == "lower"
    assert l1["best"] == []  # only one run has a decoder
    moved = rows["next_frame_l1_changed"]
    assert moved["values"] == {"jepa": None, "encoder_decoder": 0.3}
    assert moved["baseline"]["values"] == {"copy-last-frame": 0.5}
    lat = rows["latent_1step_error"]
    assert lat["values"] == {"jepa": 0.2, "encoder_decoder": 80.0}
    assert lat["baseline"]["values"] == {
        "jepa · copy-latent": 0.25,
        "encoder_decoder · copy-latent": 0.15,
    }
    assert lat["best"] == ["jepa"]
    px = rows["decoded_rollout_mse"]
    assert px["metric"].endswith("k=3") and px["source"]["row"] == "k=3"
    assert px["values"] == {"jepa": None, "encoder_decoder": 0.03}
    state = rows["state_probe_r2"]
    assert "2 continuous" in state["metric"] and state["better"] == "higher"
    assert state["values"]["jepa"] == pytest.approx(0.3)
    assert state["values"]["encoder_decoder"] == pytest.approx(0.2)  # missing row skipped
    assert state["baseline"]["values"] == {"random-init conv": pytest.approx(0.2)}
    assert rows["effective_rank_frac"]["values"] == {"jepa": 0.6, "encoder_decoder": 0.06}
    assert rows["effective_rank_frac"]["baseline"]["values"] == {"random-init conv": 0.7}
    trust = rows["trustworthiness_ram"]
    assert trust["metric"] == "trustworthiness vs RAM state (k=5)"
    assert trust["values"] == {"jepa": 0.67, "encoder_decoder": 0.63}


def test_labels_are_free_to_change():
    tables = _tables()
    recon = next(t for t in tables if t.name == "reconstruction")
    recon.add_row("l1", "mean absolute error")
    rows = _rows(Report(runs=RUNS, tables=tables))
    assert rows["next_frame_l1"]["values"] == {"jepa": None, "encoder_decoder": 0.04}
    assert rows["next_frame_l1"]["source"]["row"] == "l1"


@pytest.mark.parametrize(
    ("table", "key"),
    [("reconstruction", "l1"), ("reward", "mse"), ("collapse", "effective_rank_frac")],
)
def test_a_probe_table_without_a_headline_key_fails(table, key):
    tables = _tables()
    t = next(t for t in tables if t.name == table)
    t.rows[f"{key}_renamed"] = t.rows.pop(key)
    with pytest.raises(RowKeyError, match=f"table '{table}' has no row '{key}'"):
        build_headline(Report(runs=RUNS, tables=tables))


def test_every_spec_names_its_probe_and_a_unique_key():
    from wm_eval.probes import PROBES

    keys = [k for spec in HEADLINE_SPECS for k in spec.keys]
    assert len(keys) == len(set(keys)) == 11
    assert all(spec.probe in PROBES for spec in HEADLINE_SPECS)


def test_reward_rows_prefer_the_head_trained_on_true_next_latents():
    rows = _rows(Report(runs=RUNS, tables=_tables()))
    true, pred, gap = (
        rows[k] for k in ("reward_mse_true_next", "reward_mse_predicted_next", "reward_mse_gap")
    )
    assert true["values"] == {"jepa": 5.0, "encoder_decoder": 4.0}
    assert pred["values"] == {"jepa": 6.0, "encoder_decoder": 40.0}
    assert true["source"]["columns"]["jepa"] == "jepa/rew [trained on true]: true next"
    assert true["baseline"]["values"] == {"constant (train mean)": 9.0}
    assert gap["values"] == {"jepa": 1.0, "encoder_decoder": None}
    # baseline gap: feeding the current latent instead of the true next one
    assert gap["baseline"]["values"] == {
        "jepa/rew [trained on true]: copy-latent": pytest.approx(1.5),
        "encoder_decoder/rew [trained on true]: copy-latent": pytest.approx(0.5),
    }
    assert pred["best"] == ["jepa"] and true["best"] == ["encoder_decoder"]


def test_reward_information_row_compares_with_random_init_and_pixels_not_chance():
    row = _rows(Report(runs=RUNS, tables=_tables()))["reward_information_auroc"]
    assert row["values"] == {"jepa": 0.7, "encoder_decoder": 0.6}
    assert row["best"] == ["jepa"] and row["better"] == "higher"
    assert row["baseline"]["values"] == {
        "random-init conv": 0.55,
        "pixels, 16×16 pooled (s, s')": 0.9,
    }


def test_markdown_has_runs_side_by_side_and_baseline_column():
    md = build_headline(Report(runs=RUNS, tables=_tables())).to_markdown()
    lines = md.splitlines()
    assert "| metric | better | jepa | encoder_decoder | baseline | baseline is |" in lines
    assert (
        "| next-frame reconstruction L1 (decoder) | lower | n/a | 0.04 | 0.02 | copy-last-frame |"
        in lines
    )
    assert any(
        line.startswith(
            "| 1-step latent prediction error / latent variance | lower "
            "| **0.2** | 80 | 0.25 / 0.15 |"
        )
        for line in lines
    )


def test_missing_probes_and_components_give_na_without_crashing():
    only = [t for t in _tables() if t.name == "collapse"]
    runs = {**RUNS, "crashed": {"workflow": "jepa", "derived": []}}
    headline = build_headline(Report(runs=runs, tables=only))
    rows = headline.to_dict()["rows"]
    assert len(rows) == 11
    for key, row in rows.items():
        assert set(row["values"]) == {"jepa", "encoder_decoder", "crashed"}
        assert row["values"]["crashed"] is None
        if key != "effective_rank_frac":
            assert all(v is None for v in row["values"].values()), key
            assert row["baseline"]["values"] == {}
    md = headline.to_markdown()
    assert "| reward MSE, true next latent | lower | n/a | n/a | n/a | n/a |" in md
    assert build_headline(Report(runs={}, tables=[])).to_markdown().count("\n") > 5


def test_report_puts_headline_first(tmp_path):
    rep = Report(runs=RUNS, tables=_tables(), notes=["a note"])
    rep.headline = build_headline(rep)
    md_path, js_path = rep.write(tmp_path)
    md = md_path.read_text()
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[:3] == [
        "## Runs",
        "## Headline: which world model is better",
        "## Reconstruction",
    ]
    data = json.loads(js_path.read_text())
    assert list(data)[:2] == ["runs", "headline"]
    assert data["headline"]["columns"] == ["jepa", "encoder_decoder"]
    assert data["headline"]["rows"]["next_frame_l1"]["values"]["jepa"] is None
