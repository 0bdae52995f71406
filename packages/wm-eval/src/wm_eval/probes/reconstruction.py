"""Reconstruction probe: next-frame prediction through the decoder vs copy-last-frame."""

from __future__ import annotations

import numpy as np
import torch

from wm_eval.baselines import copy_last_frame
from wm_eval.columns import COPY_FRAME
from wm_eval.loading import Component, ModelGroup, apply_batched, encode
from wm_eval.metrics import image_errors
from wm_eval.plots import image_grid
from wm_eval.probes.registry import probe
from wm_eval.report import Table
from wm_eval.session import EvalSession

HORIZON = 1
ROWS = {  # row key -> label
    "l1": "L1",
    "mse": "MSE",
    "psnr": "PSNR (dB)",
    "l1_changed": "L1 on changed pixels",
    "changed_share": "share of pixels that change",
}


def _table() -> Table:
    table = Table(
        "reconstruction",
        "Reconstruction of the next frame",
        "decoder(predictor(encoder(s), a)) against the true next frame on validation windows, "
        "pixels on the [0,1] scale; PSNR per image (capped at 100 dB), averaged. Baseline: "
        "copy-last-frame (predict the next frame as the last context frame). 'L1 on changed "
        "pixels' averages only where the true next frame differs from the last context frame: "
        "most of an Atari frame is static, so the plain L1 favours copying, while this row asks "
        "whether the motion was predicted. Runs without a decoder (a JEPA without a derived "
        "decoder run) show n/a.",
        better="L1/MSE lower, PSNR higher (the share of changing pixels is context)",
    )
    for key, label in ROWS.items():
        table.add_row(key, label)
    return table


def _predict(session: EvalSession, comp: Component, group: ModelGroup, frames, actions, T: int):
    """``decode(predict(encode(s), a))`` in [0, 1], or None without an encoder and predictor."""
    cfg = session.config
    enc = comp.get("encoder") or group.encoder
    pred = comp.get("predictor") or group.predictor
    if enc is None or pred is None:
        return None
    z = torch.from_numpy(encode(enc, frames[:, :T], session.device, cfg.batch_size)).float()
    z_next = apply_batched(pred, z, actions, device=session.device, batch_size=cfg.batch_size)
    recon = apply_batched(
        comp.get("decoder"), z_next, device=session.device, batch_size=cfg.batch_size
    )
    return recon.clamp(0, 1).numpy()


def _grid(session: EvalSession, label: str, frames, true, recon, T: int) -> None:
    n = min(session.config.grid_samples, len(true))
    if not n:
        return
    ctx_frames = frames[:n, :T].float().numpy() / 255.0
    rows = [[*ctx_frames[i], true[i], recon[i], np.abs(recon[i] - true[i])] for i in range(n)]
    heads = [*(f"s[t-{T - 1 - j}]" for j in range(T)), "true next", "recon", "|diff|"]
    safe = label.replace("/", "_").replace(" ", "_")
    path = session.out_dir / "plots" / f"reconstruction_{safe}.png"
    image_grid(rows, heads, path, title=f"{label}: next-frame reconstruction")
    session.figure(f"Next-frame reconstructions of {label}", path)


@probe("reconstruction", order=40)
def run(session: EvalSession) -> list[Table]:
    """Errors of decode(predict(encode(s), a)) against the true next frame, plus image grids."""
    cfg = session.config
    table = _table()
    copy_done: set = set()
    for g in session.groups:
        src = session.source(g)
        for comp in g.decoders or [None]:
            label = g.label if comp is None or comp.label == g.label else comp.label
            table.add_column(label)
            if comp is None or src is None:
                continue
            batch = src.batch("val", HORIZON, cfg.max_samples, cfg.seed)
            T, frames = src.context, batch["frames"]
            recon = _predict(session, comp, g, frames, batch["actions"][:, 0], T)
            if recon is None:
                continue
            true = frames[:, T].float().numpy() / 255.0
            last = copy_last_frame(frames, T).float().numpy() / 255.0
            for key, v in image_errors(true, recon, previous=last).items():
                if key in ROWS:
                    table.set(key, label, v)
            if src.key not in copy_done:
                copy = table.add_column(COPY_FRAME + session.store_tag(src), baseline=True)
                for key, v in image_errors(true, last, previous=last).items():
                    if key in ROWS:
                        table.set(key, copy, v)
                copy_done.add(src.key)
            _grid(session, label, frames, true, recon, T)
    if not table.baselines:  # no decoder anywhere: keep the baseline column visible
        table.add_column(COPY_FRAME, baseline=True)
    return [table]
