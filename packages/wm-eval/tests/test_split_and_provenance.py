"""The held-out test split, episode ids per window, known answers on real frames, provenance."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from wm_core import read_manifest, write_manifest
from wm_data import WindowDataset
from wm_eval import EvalConfig, evaluate
from wm_eval import columns as C
from wm_eval.data import DataSource
from wm_eval.headline import build_headline
from wm_eval.metrics.probes import event_scores
from wm_eval.metrics.reward import auroc
from wm_eval.provenance import collect, git_state, provenance_markdown, store_identity, versions
from wm_eval.report import Report, Table
from wm_eval.runs import read_run
from wm_eval.stats import NO_BETTER, Measurement

from .test_end_to_end import SMALL

CONTEXT = 4


@pytest.fixture(scope="module")
def source(store) -> DataSource:
    return DataSource((str(store),), context=CONTEXT)


def test_batches_carry_the_store_episode_of_every_window(source):
    batch = source.batch("test", 1, 10_000, 0)
    ds = WindowDataset([source.paths[0]], context=CONTEXT, horizon=1, split="test")
    expected, _ = ds.window_episode(np.arange(len(ds)))
    assert batch["episode"].dtype.is_floating_point is False
    assert np.array_equal(batch["episode"].numpy(), expected)
    parts = source.split_episodes()
    assert set(batch["episode"].numpy()) == set(parts["test"])
    train = source.batch("train", 1, 10_000, 0)["episode"].numpy()
    assert not set(train) & set(parts["test"]) and not set(train) & set(parts["val"])


def test_a_run_without_test_fraction_is_noted(runs, tmp_path):
    old = tmp_path / "old" / "encoder_decoder"
    shutil.copytree(runs["encoder_decoder"], old, ignore=shutil.ignore_patterns("reward"))
    manifest = read_manifest(old)
    manifest.data.pop("test_fraction")
    write_manifest(old, manifest)
    src = DataSource.from_run(read_run(old))
    assert src.predates_test_split and src.test_fraction == 0.15
    assert not DataSource.from_run(read_run(runs["encoder_decoder"])).predates_test_split
    cfg = EvalConfig(**{**SMALL, "probes": ("representation",)})
    rep = evaluate([old], tmp_path / "out", cfg)
    (note,) = [n for n in rep.notes if "predates the held-out test split" in n]
    assert "may have seen" in note
    assert rep.provenance["stores"][0]["split"]["predates_test_split"] is True


def test_a_decoder_that_draws_the_training_mean_frame_is_no_better_than_it(source):
    """Real frames: a 'decoder' that outputs the training-split mean frame scores exactly the
    mean-frame baseline on every window, so the paired interval is [0, 0]."""
    train = source.batch("train", 1, 10_000, 0)["frames"][:, CONTEXT].numpy() / 255.0
    test = source.batch("test", 1, 10_000, 0)
    true = test["frames"][:, CONTEXT].numpy() / 255.0
    episodes = test["episode"].numpy()
    mean_frame = train.mean(axis=0)
    decoder_out = np.broadcast_to(mean_frame, true.shape).copy()  # what the decoder drew
    t = Table("reconstruction", "Reconstruction", "real frames")
    for col, baseline in (("encoder_decoder", False), (C.MEAN_FRAME, True)):
        t.add_column(col, baseline=baseline)
    for key in ("l1", "l1_objects", "l1_changed"):
        t.set(
            key,
            "encoder_decoder",
            Measurement.mean(np.abs(decoder_out - true).mean((1, 2, 3)), episodes),
        )
        t.set(
            key, C.MEAN_FRAME, Measurement.mean(np.abs(mean_frame - true).mean((1, 2, 3)), episodes)
        )
    runs = {"encoder_decoder": {"workflow": "encoder_decoder", "derived": []}}
    row = build_headline(Report(runs=runs, tables=[t])).to_dict()["rows"]["next_frame_l1"]
    assert row["runs"]["encoder_decoder"]["verdict"] == f"{NO_BETTER} {C.MEAN_FRAME}"


def test_read_outs_do_not_depend_on_the_latent_scale():
    """A latent 20 times larger (per dimension, any scale) gets the same linear read-out."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 8))
    y = z[:, 0] + 0.5 * rng.normal(size=400) > 1.0
    scale = np.geomspace(1, 20, 8)
    a = event_scores(z[:300], y[:300], z[300:], y[300:])
    b = event_scores(20 * scale * z[:300], y[:300], 20 * scale * z[300:], y[300:])
    assert auroc(y[300:], a) == pytest.approx(auroc(y[300:], b), abs=1e-6)


def test_session_standardises_with_training_statistics(runs, tmp_path):
    import torch

    from wm_eval.loading import load_group
    from wm_eval.session import EvalSession

    run = read_run(runs["jepa"])
    group = load_group(run, "jepa", torch.device("cpu"))
    src = DataSource.from_run(run)
    cfg = EvalConfig(**{**SMALL, "probes": ("reward",)})
    session = EvalSession(cfg, torch.device("cpu"), tmp_path, [group], {"jepa": src})
    z_train = session.standardised(group.encoder, src, "train", 1, cfg.probe_train_samples)
    assert np.allclose(z_train.mean(0), 0, atol=1e-8)
    assert np.allclose(z_train.std(0)[z_train.std(0) > 0], 1, atol=1e-8)
    mean, std = session.train_scale(group.encoder, src)
    raw = session.latents(group.encoder, src, "test", 1, cfg.max_samples)
    assert np.allclose(
        session.standardised(group.encoder, src, "test", 1, cfg.max_samples), (raw - mean) / std
    )


def test_store_identity_is_cheap_and_changes_with_the_episodes(store, tmp_path, source):
    a = store_identity(source)
    assert a["digest"] == store_identity(DataSource((str(store),), context=CONTEXT))["digest"]
    assert a["episodes"] == len(source.episodes) and a["sizes"] == [store.stat().st_size]
    from wm_data.testing import make_tiny_store

    other = make_tiny_store(tmp_path / "o.h5", episodes=4, max_episode_steps=40, size=16, seed=1)
    assert store_identity(DataSource((str(other),), context=CONTEXT))["digest"] != a["digest"]


def test_provenance_outside_a_checkout_and_its_markdown(tmp_path, source):
    assert git_state(tmp_path) is None
    here = git_state()
    if here is not None:  # this test file sits in the checkout wm-eval runs from
        tests = Path(__file__).parent
        head = subprocess.run(
            ["git", "-C", str(tests), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        assert here["commit"] == head.stdout.strip() and isinstance(here["dirty"], bool)
    v = versions()
    assert set(v) == {
        "wm-core",
        "wm-data",
        "wm-models",
        "wm-train",
        "wm-eval",
        "torch",
        "numpy",
        "scipy",
        "sklearn",
    }
    assert v["numpy"] == np.__version__
    prov = collect([(["jepa"], source)], {"split": "test"})
    assert prov["stores"][0]["split"]["episodes"]["test"] == len(source.split_episodes()["test"])
    md = provenance_markdown(prov)
    assert md.startswith("## Provenance") and "train/val/test" in md
    broken = DataSource(("/nonexistent/store.h5",), context=CONTEXT)
    prov = collect([(["x"], broken)], {})
    assert "error" in prov["stores"][0] and "unreadable" in provenance_markdown(prov)


def test_a_copied_store_is_the_same_store(store, tmp_path):
    """Runs that read a store and its copy share one source: its windows and its baselines are
    computed once, and no column says "store 2" for the same data."""
    copy = tmp_path / "copy.h5"
    shutil.copy2(store, copy)
    original = DataSource(paths=(str(store),), context=CONTEXT)
    copied = DataSource(paths=(str(copy),), context=CONTEXT)
    assert original.key != copied.key
    assert original.shared_key == copied.shared_key
    assert original.content_digest() == store_identity(original)["digest"]
    other_split = DataSource(paths=(str(store),), context=CONTEXT, test_fraction=0.3)
    assert other_split.shared_key != original.shared_key
    missing = DataSource(paths=(str(tmp_path / "missing.h5"),), context=CONTEXT)
    assert missing.shared_key[0] == missing.paths  # unreadable: the paths, the error later
