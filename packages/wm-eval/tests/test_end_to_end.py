"""A report from tiny real runs: two primary runs, their derived runs, and a broken run."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from wm_core import read_manifest, write_manifest
from wm_data.testing import make_tiny_store
from wm_eval import EvalConfig, evaluate
from wm_eval.cli import main
from wm_eval.headline import HEADLINE_SPECS

SMALL = dict(
    device="cpu",
    batch_size=64,
    max_samples=48,
    neighbour_samples=40,
    n_neighbors=5,
    noise_sigmas=(0.01, 0.1),
    noise_samples=16,
    probe_train_samples=160,
    rollout_horizon=3,
    grid_samples=3,
    gif_samples=2,
)
CONFIG_FILE = Path(__file__).resolve().parents[3] / "configs" / "eval.gin"


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    rep = evaluate([runs["jepa"], runs["encoder_decoder"]], out, EvalConfig(**SMALL))
    return rep, out


def _table(rep, name):
    return next(t for t in rep.tables if t.name == name)


def test_report_files_and_runs(report):
    _, out = report
    md = (out / "report.md").read_text()
    data = json.loads((out / "report.json").read_text())
    assert set(data["runs"]) == {"jepa", "encoder_decoder"}
    derived = {d["name"] for d in data["runs"]["jepa"]["derived"]}
    assert derived == {"jepa_decoder", "jepa_dynamics_reward"}
    assert [d["name"] for d in data["runs"]["encoder_decoder"]["derived"]] == ["reward"]
    tables = ("representation", "collapse", "state", "rollout_latent", "reconstruction", "reward")
    for name in (*tables, "reward_information"):
        assert name in data["tables"]
        assert data["tables"][name]["baselines"], f"{name} has no baseline column"
        assert f"## {data['tables'][name]['title']}" in md
        assert data["tables"][name]["split"] == "test"
    assert "*(baseline)*" in md
    assert "*Scored on the test split (" in md and "predates" not in md
    assert "raw latents" not in md  # the fixture heads hold their training input statistics
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[:2] == ["## Runs", "## Headline: which world model is better"]
    assert data["headline"]["columns"] == ["jepa", "encoder_decoder"]
    for caption_path in data["figures"]:
        assert (out / caption_path["path"]).is_file()
    assert (out / "plots" / "rollout_latent.png").is_file()
    assert list((out / "plots").glob("reconstruction_*.png"))
    assert list((out / "plots").glob("rollout_*.gif"))
    assert "wm_train" not in sys.modules


def test_report_json_times_every_probe_and_its_parts(report):
    rep, out = report
    timings = json.loads((out / "report.json").read_text())["timings"]
    assert set(timings["probes"]) == set(rep.config["probes"])
    for name, probe in timings["probes"].items():
        parts = probe["parts"]
        assert "intervals (episode bootstrap)" in parts and "other" in parts, name
        assert min(parts.values()) >= 0
        assert sum(parts.values()) == pytest.approx(probe["total"], abs=0.01), name
    assert "encoder passes" in timings["probes"]["representation"]["parts"]
    assert timings["total"] >= timings["loading"] + sum(
        p["total"] for p in timings["probes"].values()
    )


def test_headline_copies_the_tables(report):
    rep, _ = report
    rows = rep.headline.to_dict()["rows"]
    recon, latent = _table(rep, "reconstruction"), _table(rep, "rollout_latent")
    assert rows["next_frame_l1"]["values"] == {
        "jepa": recon.value("l1", "jepa/jepa_decoder"),
        "encoder_decoder": recon.value("l1", "encoder_decoder"),
    }
    assert rows["latent_1step_error"]["values"]["jepa"] == latent.value("k=1", "jepa")
    assert rows["decoded_rollout_error"]["source"]["row"] == "k=3"
    reward = _table(rep, "reward")
    stem = "jepa/jepa_dynamics_reward [trained on predicted]"
    assert rows["reward_mse_predicted_next"]["values"]["jepa"] == reward.value(
        "mse", f"{stem}: predicted next"
    )
    for key in ("effective_rank_frac", "trustworthiness_ram", "reward_information_auroc"):
        assert all(v is not None for v in rows[key]["values"].values()), key


def test_headline_judges_every_run_against_a_baseline_of_its_space(report):
    rep, _ = report
    rows = rep.headline.to_dict()["rows"]
    verdicts = ("beats ", "no better than ", "worse than ")
    for key in ("next_frame_l1", "next_frame_l1_changed", "reward_mse_true_next"):
        for run, cell in rows[key]["runs"].items():
            assert cell["interval"] is not None, (key, run)
            assert cell["verdict"] is not None and cell["verdict"].startswith(verdicts), (key, run)
            assert cell["baseline"]["interval"] is not None
    lat = rows["latent_1step_error"]
    assert lat["run_vs_run"] is None
    for run, cell in lat["runs"].items():
        assert cell["baseline"]["name"].startswith(f"{run} · ")
    assert rows["next_frame_l1"]["run_vs_run"][0]["a"] == "jepa"
    act = rows["action_displacement"]  # against the run's action-blind and linear columns only
    assert act["source"]["row"] == "player_x/k=1" and act["run_vs_run"] is not None
    for run, cell in act["runs"].items():
        assert cell["value"] == _table(rep, "action").value("player_x/k=1", run)
        assert cell["baseline"]["name"] in (f"{run} · shuffled actions", f"{run} · linear dynamics")
    md = rep.headline.to_markdown()
    assert "**" not in md.split("| metric |", 1)[1]


def test_provenance_names_code_versions_store_and_split(report, store):
    _, out = report
    prov = json.loads((out / "report.json").read_text())["provenance"]
    git = prov["git"]
    assert git is None or (len(git["commit"]) == 40 and isinstance(git["dirty"], bool))
    assert prov["versions"]["wm-eval"] and prov["versions"]["numpy"] and prov["versions"]["sklearn"]
    (st,) = prov["stores"]
    assert st["runs"] == ["jepa", "encoder_decoder"]
    assert st["paths"] == [str(store)] and st["sizes"][0] == store.stat().st_size
    assert st["digest"].startswith("sha256:") and st["env_id"].startswith("ALE/Assault")
    assert st["episodes"] == 30 and st["steps"] > 0 and st["created"]
    split = st["split"]
    assert split["test_fraction"] == 0.15 and split["split_seed"] == 0
    assert sum(split["episodes"].values()) == 30 and split["episodes"]["test"] >= 1
    assert len(split["test_episode_ids"]) == split["episodes"]["test"]
    assert prov["eval_config"]["split"] == "test"
    md = (out / "report.md").read_text()
    assert "## Provenance" in md and "train/val/test" in md


def test_scored_windows_are_the_test_episodes(report, store):
    rep, _ = report
    prov = rep.provenance["stores"][0]["split"]
    for name in ("reward", "reward_information", "representation"):
        t = _table(rep, name)
        for cells in t.measurements.values():
            for m in cells.values():
                assert set(np.unique(m.episodes)) <= set(prov["test_episode_ids"]), name


def test_representation_columns_and_values(report):
    rep, _ = report
    t = _table(rep, "representation")
    assert t.columns[:2] == ["jepa", "encoder_decoder"]
    assert t.baselines == ["random-init conv"]  # same architecture: one shared baseline
    for col in t.columns:
        trust = t.value("trustworthiness/pixels", col)
        assert trust is not None and 0.0 <= trust <= 1.0
        assert t.value("trustworthiness/ram_state", col) is not None
        assert t.value("noise/sigma=0.01", col) <= t.value("noise/sigma=0.1", col) + 1e-9
    c = _table(rep, "collapse")
    assert c.value("latent_dim", "jepa") == 16
    assert 1.0 <= c.value("participation_ratio", "random-init conv") <= 16


def test_state_probe_uses_assault_ram_map(report):
    rep, _ = report
    t = _table(rep, "state")
    assert "r2/player_x" in t.rows and "accuracy/lives" in t.rows
    assert t.label("r2/player_x") == "player_x (R²)"
    assert "constant (train mean / majority)" in t.baselines


def test_rollout_has_latent_and_pixel_baselines(report):
    rep, _ = report
    t = _table(rep, "rollout_latent")
    assert list(t.rows) == ["k=1", "k=2", "k=3"]
    for run in ("jepa", "encoder_decoder"):
        assert t.value("k=1", run) is not None
        for suffix in (
            "copy-latent",
            "mean-latent",
            "linear dynamics",
            "shuffled actions",
            "linear dynamics, shuffled actions",
        ):
            assert t.value("k=1", f"{run} · {suffix}") > 0
    px = _table(rep, "rollout_pixels")
    for name in ("copy-last-frame", "mean frame (train)", "median frame (train)"):
        assert px.value("k=1", name) is not None
    assert px.value("k=2", "encoder_decoder/pixel loop") is not None
    assert px.value("k=2", "jepa/jepa_decoder/latent loop") is not None


def test_reconstruction_uses_derived_decoder(report):
    rep, _ = report
    t = _table(rep, "reconstruction")
    assert t.columns[:2] == ["jepa/jepa_decoder", "encoder_decoder"]
    assert t.baselines == [
        "copy-last-frame",
        "mean frame (train)",
        "median frame (train)",
        "blur σ=1 of last frame",
    ]
    for col in t.columns:
        assert 0 <= t.value("mse", col) <= 1
        assert t.value("psnr", col) > 0
        assert 0 <= t.value("l1_changed", col) <= 1
        assert 0 <= t.value("l1_objects", col) <= 1
    share = t.value("changed_share", "copy-last-frame")
    assert 0 < share < 1
    assert t.value("changed_share", "encoder_decoder") == share


def test_reward_information_probe_has_pixel_random_and_chance_baselines(report):
    rep, _ = report
    t = _table(rep, "reward_information")
    auroc, ap = "auroc", "average_precision"
    assert t.baselines == ["random-init conv", "pixels, 16×16 pooled (s, s')", "chance"]
    assert t.value(auroc, "chance") == 0.5
    share = t.value(ap, "chance")
    assert 0 < share < 0.5  # rewards are sparse in the fixture store too
    for col in ("jepa", "encoder_decoder", "random-init conv", "pixels, 16×16 pooled (s, s')"):
        assert 0.0 <= t.value(auroc, col) <= 1.0, col
        assert 0.0 <= t.value(ap, col) <= 1.0, col


def test_reward_heads_true_and_predicted_next(report):
    rep, _ = report
    t = _table(rep, "reward")
    jepa = "jepa/jepa_dynamics_reward [trained on predicted]"
    ed = "encoder_decoder/reward [trained on true]"
    assert t.value("mse", f"{jepa}: true next") is not None
    assert t.value("mse", f"{jepa}: predicted next") is not None
    gap = t.value("mse_gap", f"{jepa}: predicted next")
    assert gap == pytest.approx(
        t.value("mse", f"{jepa}: predicted next") - t.value("mse", f"{jepa}: true next")
    )
    # the reward predictor's checkpoint has no predictor: the parent run's is used
    assert t.value("mse", f"{ed}: predicted next") is not None
    assert t.value("mse", "constant (train mean)") is not None
    # the fixture store has non-zero rewards in the validation split
    assert t.value("auroc_positive", f"{ed}: true next") is not None
    assert t.value("mse_nonzero", "constant (train mean)") > 0


def test_missing_components_give_na(runs, tmp_path):
    """A JEPA without its derived runs, and a run whose checkpoint is missing, do not crash."""
    lone = tmp_path / "alone" / "jepa"
    shutil.copytree(runs["jepa"], lone)
    broken = tmp_path / "alone" / "crashed"
    shutil.copytree(runs["encoder_decoder"], broken, ignore=shutil.ignore_patterns("*.pt"))
    cfg = EvalConfig(**{**SMALL, "probes": ("reconstruction", "reward", "rollout")})
    rep = evaluate([lone, broken], tmp_path / "out", cfg)
    recon = _table(rep, "reconstruction")
    assert recon.value("mse", "jepa") is None
    assert recon.value("mse", "crashed") is None
    md = (tmp_path / "out" / "report.md").read_text()
    assert "n/a" in md and "no checkpoint" in md
    assert _table(rep, "rollout_latent").value("k=1", "crashed") is None
    rows = rep.headline.to_dict()["rows"]
    assert rows["next_frame_l1"]["values"] == {"jepa": None, "crashed": None}
    assert rows["state_probe_mean"]["values"] == {"jepa": None, "crashed": None}  # not run


def test_cli_with_gin_file_and_bindings(runs, tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="wm_eval")
    if not CONFIG_FILE.is_file():
        pytest.skip("configs/eval.gin is not beside this checkout")
    binds = [f"EvalConfig.{k} = {v!r}" for k, v in SMALL.items()]
    binds.append("EvalConfig.probes = ('representation', 'reconstruction')")
    argv = ["--gin", str(CONFIG_FILE), "--run", str(runs["encoder_decoder"])]
    argv += [a for b in binds for a in ("--bind", b)]
    assert main([*argv, "-v", "--out", str(tmp_path / "cli")]) == 0
    data = json.loads((tmp_path / "cli" / "report.json").read_text())
    assert set(data["tables"]) == {"representation", "collapse", "reconstruction"}
    for name in ("representation", "reconstruction"):  # -v: each probe's time and its parts
        assert f"probe {name} took " in caplog.text
    assert "  encoder passes: " in caplog.text and "wm-eval took " in caplog.text
    assert data["config"]["max_samples"] == 48
    assert "next_frame_l1" in data["headline"]["rows"]
    printed = capsys.readouterr().out
    assert "## Headline: which world model is better" in printed
    assert "| metric | better | encoder_decoder | run vs run |" in printed


def test_cli_names_bad_run(tmp_path, capsys):
    assert main(["--run", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_runs_on_different_stores_get_their_own_baselines(runs, tmp_path):
    other = make_tiny_store(tmp_path / "o.h5", episodes=4, max_episode_steps=40, size=16, seed=1)
    moved = tmp_path / "moved" / "encoder_decoder"
    shutil.copytree(runs["encoder_decoder"], moved, ignore=shutil.ignore_patterns("reward"))
    manifest = read_manifest(moved)
    manifest.data["paths"] = [str(other)]
    write_manifest(moved, manifest)
    cfg = EvalConfig(**{**SMALL, "probes": ("reconstruction",)})
    rep = evaluate([runs["encoder_decoder"], moved], tmp_path / "out", cfg)
    t = _table(rep, "reconstruction")
    assert t.baselines[0] == "copy-last-frame · store 1"
    assert t.baselines[4] == "copy-last-frame · store 2"
    assert len(t.baselines) == 8 and all(b.endswith(("store 1", "store 2")) for b in t.baselines)
    runs_cols = [c for c in t.columns if c not in t.baselines]
    assert runs_cols[1] == "moved/encoder_decoder"  # same directory name: parent added
    assert runs_cols[0].endswith("/encoder_decoder")
    a, b = (t.value("mse", c) for c in (t.baselines[0], t.baselines[4]))
    assert a is not None and b is not None and a != b


def test_too_long_rollout_is_a_note_not_a_crash(runs, tmp_path):
    cfg = EvalConfig(**{**SMALL, "probes": ("rollout",), "rollout_horizon": 500})
    rep = evaluate([runs["jepa"]], tmp_path, cfg)
    assert rep.tables == []
    assert any("rollout" in n and "horizon=500" in n for n in rep.notes)


def test_data_paths_binding_overrides_run_json(runs, store, tmp_path):
    moved = tmp_path / "nodata" / "encoder_decoder"
    shutil.copytree(runs["encoder_decoder"], moved, ignore=shutil.ignore_patterns("reward"))
    manifest = read_manifest(moved)
    manifest.data["paths"] = []
    write_manifest(moved, manifest)
    cfg = EvalConfig(**{**SMALL, "probes": ("reconstruction",)})
    rep = evaluate([moved], tmp_path / "a", cfg)
    assert any("data.paths" in n for n in rep.notes)
    assert _table(rep, "reconstruction").value("mse", "encoder_decoder") is None
    cfg = EvalConfig(**{**SMALL, "probes": ("reconstruction",), "data_paths": (str(store),)})
    rep = evaluate([moved], tmp_path / "b", cfg)
    assert _table(rep, "reconstruction").value("mse", "encoder_decoder") is not None


def test_every_headline_key_exists_in_the_tables_its_probe_produces(report):
    """Built from a real report: each headline spec's table comes from the probe it names and
    has the row keys it reads, and every headline row has a value for some run."""
    rep, _ = report
    ran = [spec for spec in HEADLINE_SPECS if spec.probe in rep.config["probes"]]  # not control
    for spec in ran:
        table = rep.table(spec.table)
        assert table is not None, f"{spec.keys}: no table {spec.table!r}"
        assert table.probe == spec.probe, f"{spec.table!r} comes from {table.probe!r}"
        assert spec.required_rows(table), spec.keys
    rows = rep.headline.to_dict()["rows"]
    assert list(rows) == [k for spec in HEADLINE_SPECS for k in spec.keys]
    for key in (k for spec in ran for k in spec.keys):
        assert any(v is not None for v in rows[key]["values"].values()), key


def test_report_json_rows_by_key_with_labels(report):
    _, out = report
    data = json.loads((out / "report.json").read_text())
    recon = data["tables"]["reconstruction"]
    assert recon["probe"] == "reconstruction"
    assert {"l1", "l1_changed"} <= set(recon["rows"])
    assert recon["labels"]["l1_changed"] == "L1 on changed pixels"
    assert "| L1 on changed pixels |" in (out / "report.md").read_text()
    assert data["headline"]["rows"]["next_frame_l1"]["source"]["row"] == "l1"
