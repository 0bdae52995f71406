"""Reconstruction probe: next-frame prediction through the decoder vs copy-last-frame."""

from __future__ import annotations

import numpy as np
import torch

from wm_eval.baselines import copy_last_frame
from wm_eval.context import EvalContext
from wm_eval.metrics import image_errors
from wm_eval.models import apply_batched, encode
from wm_eval.plots import image_grid
from wm_eval.report import Table

HORIZON = 1
COPY_FRAME = "copy-last-frame"
ROWS = {
    "l1": "L1",
    "mse": "MSE",
    "psnr": "PSNR (dB)",
    "l1_changed": "L1 on changed pixels",
    "changed_share": "share of pixels that change",
}


def run(ctx: EvalContext) -> list[Table]:
    """Errors of decode(predict(encode(s), a)) against the true next frame, plus image grids."""
    cfg = ctx.config
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
    for row in ROWS.values():
        table.ensure_row(row)
    copy_done: set = set()
    for g in ctx.groups:
        src = ctx.source(g)
        comps = g.decoders or [None]
        for comp in comps:
            label = g.label if comp is None or comp.label == g.label else comp.label
            table.add_column(label)
            if comp is None or src is None:
                continue
            enc = comp.get("encoder") or g.encoder
            pred = comp.get("predictor") or g.predictor
            dec = comp.get("decoder")
            if enc is None or pred is None:
                continue
            batch = src.batch("val", HORIZON, cfg.max_samples, cfg.seed)
            T = src.context
            frames = batch["frames"]
            z = torch.from_numpy(encode(enc, frames[:, :T], ctx.device, cfg.batch_size)).float()
            z_next = apply_batched(
                pred, z, batch["actions"][:, 0], device=ctx.device, batch_size=cfg.batch_size
            )
            recon = apply_batched(dec, z_next, device=ctx.device, batch_size=cfg.batch_size)
            recon = recon.clamp(0, 1).numpy()
            true = frames[:, T].float().numpy() / 255.0
            last = copy_last_frame(frames, T).float().numpy() / 255.0
            for key, v in image_errors(true, recon, previous=last).items():
                table.set(ROWS[key], label, v)
            if src.key not in copy_done:
                copy = table.add_column(COPY_FRAME + ctx.store_tag(src), baseline=True)
                for key, v in image_errors(true, last, previous=last).items():
                    table.set(ROWS[key], copy, v)
                copy_done.add(src.key)
            n = min(cfg.grid_samples, len(true))
            if n:
                ctx_frames = frames[:n, :T].float().numpy() / 255.0
                rows = [
                    [*ctx_frames[i], true[i], recon[i], np.abs(recon[i] - true[i])]
                    for i in range(n)
                ]
                heads = [*(f"s[t-{T - 1 - j}]" for j in range(T)), "true next", "recon", "|diff|"]
                safe = label.replace("/", "_").replace(" ", "_")
                path = ctx.out_dir / "plots" / f"reconstruction_{safe}.png"
                image_grid(rows, heads, path, title=f"{label}: next-frame reconstruction")
                ctx.figure(f"Next-frame reconstructions of {label}", path)
    if not table.baselines:  # no decoder anywhere: keep the baseline column visible
        table.add_column(COPY_FRAME, baseline=True)
    return [table]
