"""Reconstruction probe: next-frame prediction through each decoder, beside the pixel
baselines that expose a blurred or background-only decoder, on the same windows."""

from __future__ import annotations

import numpy as np
import torch

from wm_eval import columns as C
from wm_eval.data import DataSource
from wm_eval.loading import Component, ModelGroup, apply_batched
from wm_eval.plots import reconstruction_grid
from wm_eval.probes.registry import probe
from wm_eval.report import Table
from wm_eval.scoring import NextFrameWindows, frame_reference
from wm_eval.session import EvalSession

HORIZON = 1
ROWS = {  # row key -> label
    "l1": "L1 (whole frame)",
    "mse": "MSE",
    "psnr": "PSNR (dB)",
    "l1_objects": "L1 inside object regions",
    "l1_background": "L1 outside object regions (background)",
    "l1_changed": "L1 on changed pixels",
    "objects_share": "share of pixels in object regions",
    "background_share": "share of pixels in the background",
    "changed_share": "share of pixels that change",
}
BASELINES = (C.COPY_FRAME, C.MEAN_FRAME, C.MEDIAN_FRAME, C.BLUR_FRAME)


def _table(split: str) -> Table:
    table = Table(
        "reconstruction",
        "Reconstruction of the next frame",
        f"decoder(predictor(encoder(s), a)) against the true next frame on {split}-split "
        "windows, pixels on the [0,1] scale; PSNR per image (capped at 100 dB), averaged; "
        "[95% episode-bootstrap interval]. Baselines, in the same pixel space on the same "
        "windows: copy-last-frame, the training split's mean and per-pixel median frame (what "
        "a decoder that draws only the static background scores) and a Gaussian blur (σ=1) "
        "of the last frame. Most of an Atari frame is static background, so the whole-frame "
        "L1 favours copying and background frames; 'inside object regions' scores only where "
        "something moves or is (REGIONS), 'outside' the rest. 'Changed pixels' are those that "
        "differ from the last context frame by more than 0.01: a blur or a background frame "
        "can beat copying there without predicting anything, so read that row against the "
        "blur and mean-frame columns. The share rows are context, not scores. Runs without a "
        "decoder show n/a.",
        better="L1/MSE lower, PSNR higher (share rows are context)",
    )
    table.split = split
    for key, label in ROWS.items():
        table.add_row(key, label)
    return table


def _predict(
    session: EvalSession, comp: Component, group: ModelGroup, src: DataSource, actions
) -> np.ndarray | None:
    """``decode(predict(encode(s), a))`` in [0, 1], or None without an encoder and predictor."""
    cfg = session.config
    enc = comp.get("encoder") or group.encoder
    pred = comp.get("predictor") or group.predictor
    if enc is None or pred is None:
        return None
    z = session.latents(enc, src, cfg.split, HORIZON, cfg.max_samples, 0)
    z = torch.from_numpy(z).float()
    z_next = apply_batched(pred, z, actions, device=session.device, batch_size=cfg.batch_size)
    recon = apply_batched(
        comp.get("decoder"), z_next, device=session.device, batch_size=cfg.batch_size
    )
    return recon.clamp(0, 1).numpy()


def _fill(table: Table, column: str, windows: NextFrameWindows, pred: np.ndarray) -> None:
    for key, m in windows.measure(pred).items():
        table.set(key, column, m)


def _store_baselines(
    session: EvalSession, table: Table, src: DataSource, windows: NextFrameWindows
) -> dict[str, np.ndarray]:
    """The pixel baseline columns of one store; returns their predictions by column."""
    cfg = session.config
    ref = frame_reference(src, cfg.probe_train_samples, cfg.seed)
    preds = ref.predictions(windows.last)
    for name, pred in preds.items():
        _fill(table, table.add_column(name + session.store_tag(src), baseline=True), windows, pred)
    return preds


def _decoders(session: EvalSession) -> list[tuple[str, ModelGroup, Component | None]]:
    return [
        (g.label if comp is None or comp.label == g.label else comp.label, g, comp)
        for g in session.groups
        for comp in g.decoders or [None]
    ]


@probe("reconstruction", order=40)
def run(session: EvalSession) -> list[Table]:
    """Errors of decode(predict(encode(s), a)) and of the pixel baselines, plus image grids."""
    cfg = session.config
    table = _table(cfg.split)
    stores: dict[tuple, dict] = {}
    regions: set[str] = set()
    for label, g, comp in _decoders(session):
        table.add_column(label)
        src = session.source(g)
        if comp is None or src is None:
            continue
        if src.key not in stores:
            with session.timed("windows and object regions"):
                windows = NextFrameWindows.load(src, cfg.split, cfg.max_samples, cfg.seed)
            base = _store_baselines(session, table, src, windows)
            stores[src.key] = {"src": src, "windows": windows, "base": base, "decoded": {}}
            regions.add(windows.regions)
        store = stores[src.key]
        w = store["windows"]
        with session.timed("decoders"):
            recon = _predict(session, comp, g, src, w.actions)
        if recon is None:
            continue
        _fill(table, label, w, recon)
        store["decoded"][label] = recon
    table.description = table.description.replace("REGIONS", "; ".join(sorted(regions)) or "-")
    table.columns.sort(key=lambda c: c in table.baselines)  # models first, then baselines
    if not table.baselines:  # no decoder anywhere: keep the baseline columns visible
        for name in BASELINES:
            table.add_column(name, baseline=True)
    for i, store in enumerate(stores.values()):
        _grid(session, store, f"_store{i + 1}" if len(stores) > 1 else "")
    return [table]


def _grid(session: EvalSession, store: dict, suffix: str) -> None:
    """Last context frame, true next frame, each decoder and the mean frame with their errors."""
    w: NextFrameWindows = store["windows"]
    n = min(session.config.grid_samples, len(w.true))
    if not n or not store["decoded"]:
        return
    picks = np.linspace(0, len(w.true) - 1, n).round().astype(int)
    outputs = {**store["decoded"], C.MEAN_FRAME: store["base"][C.MEAN_FRAME]}
    path = session.out_dir / "plots" / f"reconstruction{suffix or '_grid'}.png"
    reconstruction_grid(
        w.last[picks],
        w.true[picks],
        {name: np.asarray(pred)[picks] for name, pred in outputs.items()},
        w.objects[picks],
        path,
        title="Next frame: each decoder and the mean-frame baseline"
        + session.store_tag(store["src"]),
    )
    session.figure(
        "Next-frame reconstructions: last context frame, true next frame, each decoder and "
        "the training mean frame with their absolute errors, and the object regions",
        path,
    )
