"""Pixel baselines and object regions: a decoder that draws only the background is exposed."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from wm_eval import EvalConfig, EvalSession, regions
from wm_eval import columns as C
from wm_eval.baselines import FrameReference, blur_frames
from wm_eval.data import DataSource
from wm_eval.evaluation import load_runs
from wm_eval.metrics.images import (
    changed_pixels,
    image_errors,
    motion_regions,
    pooled_mean,
    region_sums,
)
from wm_eval.probes import reconstruction, rollout
from wm_eval.regions import object_regions
from wm_eval.report import Report
from wm_eval.runs import discover
from wm_eval.scoring import NextFrameWindows, frame_reference
from wm_eval.stats import WORSE, compare

SMALL = dict(
    device="cpu",
    batch_size=64,
    max_samples=48,
    probe_train_samples=160,
    rollout_horizon=3,
    grid_samples=3,
    gif_samples=2,
)


def make_session(runs, names, out, **config) -> EvalSession:
    """A session over real tiny runs whose modules a test may then replace."""
    cfg = EvalConfig(**{**SMALL, "probes": ("reconstruction", "rollout"), **config})
    device = torch.device("cpu")
    groups, sources = load_runs(discover([runs[n] for n in names]), names, cfg, device, Report())
    return EvalSession(cfg, device, out, groups, sources)


def moving_sprites(n: int = 8, steps: int = 5, size: int = 24, seed: int = 0) -> np.ndarray:
    """Windows ``[n, steps, 1, size, size]``: a textured static background and three 3x3
    sprites, each moving one pixel per frame in its own direction (the last one at rest)."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(0.1, 0.3, size=(size, size)).astype(np.float32)
    out = np.repeat(background[None, None, None], steps, axis=1).repeat(n, axis=0)
    for i in range(n):
        for direction in ((0, 1), (1, 0), (0, 0)):
            y, x = rng.integers(4, size - 4 - steps, size=2)
            for t in range(steps):
                yy, xx = y + direction[0] * t, x + direction[1] * t
                out[i, t, 0, yy : yy + 3, xx : xx + 3] = 0.9
        out[i, :, 0, 0, 0] = background[0, 0]
    return out, background


# -- metric functions --------------------------------------------------------------------------


def test_blur_is_spatial_only_and_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2, 3, 8, 8)).astype(np.float32)
    blurred = blur_frames(x)
    for i in range(2):
        for c in range(3):
            ref = ndimage.gaussian_filter(x[i, c], sigma=1.0, mode="nearest")
            np.testing.assert_allclose(blurred[i, c], ref, rtol=1e-6)
    assert blurred.shape == x.shape


def test_frame_reference_mean_median_and_predictions():
    frames = np.stack([np.full((1, 2, 2), v, np.float32) for v in (0.0, 0.2, 1.0)])
    ref = FrameReference.fit(frames)
    np.testing.assert_allclose(ref.mean, 0.4, rtol=1e-6)
    np.testing.assert_allclose(ref.median, 0.2)
    preds = ref.predictions(frames)
    assert list(preds) == [C.COPY_FRAME, C.MEAN_FRAME, C.MEDIAN_FRAME, C.BLUR_FRAME]
    assert all(p.shape == frames.shape for p in preds.values())
    with pytest.raises(ValueError, match="frames"):
        FrameReference.fit(frames[:0])


def test_region_sums_pool_pixels_not_windows():
    target = np.zeros((2, 1, 2, 2))
    pred = np.zeros((2, 1, 2, 2))
    pred[0, 0, 0, 0] = 1.0
    mask = np.zeros((2, 2, 2), bool)
    mask[0, 0, 0] = True
    mask[1] = True  # window 1: four pixels, all right
    sums, counts = region_sums(target, pred, mask)
    np.testing.assert_allclose(sums, [1.0, 0.0])
    np.testing.assert_allclose(counts, [1.0, 4.0])
    assert pooled_mean(sums, counts) == pytest.approx(1 / 5)
    assert np.isnan(pooled_mean(sums * 0, counts * 0))


def test_motion_regions_cover_moving_sprites_and_dilate():
    frames = np.zeros((2, 3, 1, 12, 12), np.float32)
    frames[0, 1, 0, 5, 5] = 1.0  # one pixel blinks in window 0; window 1 is static
    mask = motion_regions(frames, dilation=2)
    assert mask.shape == (2, 12, 12)
    assert mask[0].sum() == 25 and mask[0, 3:8, 3:8].all()
    assert not mask[1].any()  # dilation never crosses windows
    assert motion_regions(frames, dilation=0)[0].sum() == 1
    with pytest.raises(ValueError, match="frames"):
        motion_regions(frames[:, :1])


def test_background_decoder_is_worse_than_copy_inside_object_regions():
    """Whole-frame L1 flatters a background-only decoder; the object-region row does not."""
    frames, background = moving_sprites(n=12)  # 6 episodes: enough for an interval
    objects, how = object_regions(frames)
    assert "dilated" in how
    last, true = frames[:, -2], frames[:, -1]
    windows = NextFrameWindows(
        frames=torch.zeros(0),
        actions=torch.zeros(0),
        true=true,
        last=last,
        episodes=np.arange(len(true)) // 2,
        objects=objects,
        changed=changed_pixels(last, true),
        regions=how,
    )
    bg = windows.measure(np.broadcast_to(background, true.shape))
    copy = windows.measure(last)
    # outside the regions only the sprite at rest is missed (motion cannot see it; RAM can)
    assert bg["l1_background"].value < bg["l1_objects"].value / 10
    assert bg["l1_objects"].value > 1.5 * copy["l1_objects"].value
    assert compare(bg["l1_objects"], copy["l1_objects"], "lower") == WORSE
    assert 0 < bg["objects_share"].value < 0.5
    assert bg["objects_share"].value + bg["background_share"].value == pytest.approx(1.0)
    # the legacy pooled changed-pixel L1 is the same number as before
    legacy = image_errors(true, last, previous=last)
    assert copy["l1_changed"].value == pytest.approx(legacy["l1_changed"], rel=1e-6)
    assert copy["changed_share"].value == pytest.approx(legacy["changed_share"])


def test_ram_object_boxes_join_the_motion_regions(monkeypatch):
    """The hook: the game's ``object_mask(ram, frame_shape)`` adds boxes motion cannot see."""
    frames, _ = moving_sprites(n=2)
    ram = np.zeros((2, frames.shape[1], 128), np.uint8)
    calls = []

    def object_mask(ram_step: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
        calls.append((ram_step.shape, frame_shape))
        out = np.zeros((len(ram_step), *frame_shape), bool)
        out[:, :2, :2] = True
        return out

    fake = types.ModuleType("fake_ram_objects")
    fake.object_mask_for = lambda env_id: object_mask if env_id == "ALE/Pong-v5" else None
    monkeypatch.setitem(sys.modules, "fake_ram_objects", fake)
    monkeypatch.setattr(regions, "OBJECT_MASK_MODULE", "fake_ram_objects")
    motion, _ = object_regions(frames)
    mask, how = object_regions(frames, ram, "ALE/Pong-v5")
    assert "RAM" in how and calls == [((2, 128), (24, 24))] * 2
    assert mask[:, :2, :2].all() and (mask >= motion).all()
    for env_id, ram_given in (("ALE/Breakout-v5", ram), ("ALE/Pong-v5", None)):
        mask, how = object_regions(frames, ram_given, env_id)  # no map / no RAM: motion alone
        assert np.array_equal(mask, motion) and "RAM" not in how
    monkeypatch.setattr(regions, "OBJECT_MASK_MODULE", "no_such_module_here")
    assert regions.ram_object_mask("ALE/Pong-v5") is None


# -- the probes on real tiny runs ---------------------------------------------------------------


class ConstantDecoder(nn.Module):
    """Draws one fixed frame whatever the latent: a decoder that learned only the background."""

    def __init__(self, frame: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("frame", torch.as_tensor(np.asarray(frame), dtype=torch.float32))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.frame.expand(len(z), *self.frame.shape)


def _train_mean_frame(src: DataSource, cfg: EvalConfig) -> np.ndarray:
    frames = src.batch("train", 1, cfg.probe_train_samples, cfg.seed)["frames"][:, src.context]
    return frames.double().numpy().mean(axis=0) / 255.0


@pytest.fixture(scope="module")
def mean_decoder_tables(runs, tmp_path_factory):
    """Reconstruction and decoded-rollout tables of an encoder-decoder whose decoder draws the
    training mean frame."""
    session = make_session(runs, ["encoder_decoder"], tmp_path_factory.mktemp("mean_decoder"))
    g = session.groups[0]
    mean = _train_mean_frame(session.source(g), session.config)
    g.decoders[0].modules["decoder"] = ConstantDecoder(mean)
    recon = reconstruction.run(session)[0]
    pixels = rollout.run(session)[-1]
    return recon, pixels


def test_mean_frame_decoder_equals_mean_frame_baseline_on_every_row(mean_decoder_tables):
    recon, pixels = mean_decoder_tables
    assert C.MEAN_FRAME in recon.baselines
    for key in recon.rows:
        ours, base = recon.value(key, "encoder_decoder"), recon.value(key, C.MEAN_FRAME)
        assert ours == pytest.approx(base, rel=1e-5, abs=1e-7), key
    for key in pixels.rows:
        base = pixels.value(key, C.MEAN_FRAME)
        for col in ("encoder_decoder/pixel loop", "encoder_decoder/latent loop"):
            assert pixels.value(key, col) == pytest.approx(base, rel=1e-5, abs=1e-9), (key, col)


@pytest.fixture(scope="module")
def tables(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("pixel_probes")
    session = make_session(runs, ["jepa", "encoder_decoder"], out)
    return reconstruction.run(session)[0], session


def test_reconstruction_rows_columns_and_split(tables):
    t, session = tables
    assert list(t.rows) == list(reconstruction.ROWS)
    assert t.columns == [
        "jepa/jepa_decoder",
        "encoder_decoder",
        C.COPY_FRAME,
        C.MEAN_FRAME,
        C.MEDIAN_FRAME,
        C.BLUR_FRAME,
    ]
    assert t.baselines == t.columns[2:]
    assert t.split == "test" and "test-split" in t.description
    assert "REGIONS" not in t.description and "dilated" in t.description
    if regions.ram_object_mask("ALE/Assault-v5") is not None:  # the store has RAM
        assert "decoded from emulator RAM" in t.description
    for col in t.columns:
        for key in ("l1", "l1_objects", "l1_background", "mse"):
            assert 0 <= t.value(key, col) <= 1, (key, col)
            assert t.measurement(key, col) is not None
        share = t.value("objects_share", col) + t.value("background_share", col)
        assert share == pytest.approx(1.0)
    batch = session.sources["jepa"].batch("test", 1, 48, 0)
    assert len(t.measurement("l1", C.COPY_FRAME).episodes) == len(batch["frames"])


def test_median_frame_is_worse_than_copying_inside_object_regions(tables):
    """On real Assault frames, the background (median) frame loses to copying on objects."""
    t, _ = tables
    assert t.value("l1_objects", C.MEDIAN_FRAME) > t.value("l1_objects", C.COPY_FRAME)
    assert t.value("l1_background", C.MEDIAN_FRAME) < t.value("l1_objects", C.MEDIAN_FRAME)


def test_reconstruction_grid_is_written(tables):
    _, session = tables
    path = session.out_dir / "plots" / "reconstruction_grid.png"
    assert path.is_file()
    assert any(p == "plots/reconstruction_grid.png" for _, p in session.report.figures)


def test_frame_reference_is_fit_on_training_windows(runs, tmp_path):
    session = make_session(runs, ["encoder_decoder"], tmp_path)
    src, cfg = session.sources["encoder_decoder"], session.config
    ref = frame_reference(src, cfg.probe_train_samples, cfg.seed)
    np.testing.assert_allclose(ref.mean, _train_mean_frame(src, cfg), atol=1e-6)
    test_mean = src.batch("test", 1, 160, 0)["frames"][:, src.context].double().mean(0) / 255
    assert not np.allclose(ref.mean, test_mean.numpy(), atol=1e-6)
