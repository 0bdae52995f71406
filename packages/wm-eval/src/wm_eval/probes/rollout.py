"""Rollout probe: k-step open-loop prediction in latent space (and decoded, where possible)."""

from __future__ import annotations

import numpy as np
import torch

from wm_eval.baselines import CopyLatentPredictor, copy_last_frame
from wm_eval.columns import COPY_FRAME, copy_latent
from wm_eval.loading import Component, ModelGroup, apply_batched, encode
from wm_eval.metrics import image_errors, normalised_latent_error
from wm_eval.plots import line_plot, rollout_gif
from wm_eval.probes.registry import probe
from wm_eval.report import Table
from wm_eval.session import EvalSession


def row_key(k: int) -> str:
    """The row of k steps ahead, in both rollout tables (also its label)."""
    return f"k={k}"


def _latent_rollout(
    session: EvalSession, enc, pred, frames, actions, horizon: int
) -> list[np.ndarray]:
    """``[z_hat_1, ..., z_hat_H]`` from ``z_0 = enc(s_0)`` and the recorded actions."""
    T = frames.shape[1] - horizon
    z = torch.from_numpy(
        encode(enc, frames[:, :T], session.device, session.config.batch_size)
    ).float()
    out = []
    for k in range(horizon):
        z = apply_batched(
            pred, z, actions[:, k], device=session.device, batch_size=session.config.batch_size
        )
        out.append(z.double().numpy())
    return out


def _copy_rollout(z0: np.ndarray, actions: torch.Tensor, horizon: int) -> list[np.ndarray]:
    """The copy-current-latent predictor rolled out open loop: ``ẑ_k = z₀`` for every k."""
    copy, z = CopyLatentPredictor(), torch.from_numpy(z0)
    out = []
    for k in range(horizon):
        z = copy(z, actions[:, k])
        out.append(z.numpy())
    return out


def _latent_table(session: EvalSession, horizon: int) -> tuple[Table, dict]:
    cfg = session.config
    table = Table(
        "rollout",
        f"Open-loop latent rollout (k = 1..{horizon})",
        "From z₀ = encoder(s₀), the predictor is applied k times with the recorded actions; "
        "error = mean ‖ẑ_k − z_k‖² / total variance of z_k, with z_k = target encoder (or "
        "encoder) of the true state s_k. 1.0 = as bad as predicting the mean latent. Baseline: "
        "copy-current-latent (ẑ_k = z₀ in the same space). For an encoder-decoder the latent "
        "is only trained through the decoder, so see also the decoded rollout table.",
        better="lower",
    )
    curves, dashed = {}, set()
    for g in session.groups:
        table.add_column(g.label)
        copy = table.add_column(copy_latent(g.label), baseline=True)
        src = session.source(g)
        for k in range(1, horizon + 1):
            table.add_row(row_key(k))
        if g.encoder is None or g.predictor is None or src is None:
            continue
        target = (g.world.get("target_encoder") if g.world else None) or g.encoder
        batch = src.batch("val", horizon, cfg.max_samples, cfg.seed)
        preds = _latent_rollout(
            session, g.encoder, g.predictor, batch["frames"], batch["actions"], horizon
        )
        z0 = session.latents(target, src, "val", horizon, cfg.max_samples, 0)
        copies = _copy_rollout(z0, batch["actions"], horizon)
        ours, base = [], []
        for k in range(1, horizon + 1):
            zk = session.latents(target, src, "val", horizon, cfg.max_samples, k)
            ours.append(normalised_latent_error(preds[k - 1], zk))
            base.append(normalised_latent_error(copies[k - 1], zk))
            table.set(row_key(k), g.label, ours[-1])
            table.set(row_key(k), copy, base[-1])
        ks = list(range(1, horizon + 1))
        curves[g.label], curves[copy] = (ks, ours), (ks, base)
        dashed.add(copy)
    return table, {"curves": curves, "dashed": dashed}


def _decoded(session: EvalSession, comp: Component, group: ModelGroup, horizon: int):
    """Decoded rollout frames ``[N, H, C, H, W]`` in [0, 1] and the true frames, or None."""
    enc = comp.get("encoder") or group.encoder
    pred = comp.get("predictor") or group.predictor
    dec = comp.get("decoder")
    src = session.source(group)
    if enc is None or pred is None or dec is None or src is None:
        return None
    batch = src.batch("val", horizon, session.config.max_samples, session.config.seed)
    T = src.context
    zs = _latent_rollout(session, enc, pred, batch["frames"], batch["actions"], horizon)
    frames = [
        apply_batched(
            dec,
            torch.from_numpy(z).float(),
            device=session.device,
            batch_size=session.config.batch_size,
        ).numpy()
        for z in zs
    ]
    true = batch["frames"][:, T : T + horizon].float().numpy() / 255.0
    return np.clip(np.stack(frames, axis=1), 0, 1), true, batch["frames"], T


def _pixel_table(session: EvalSession, horizon: int) -> tuple[Table, dict]:
    table = Table(
        "rollout_pixels",
        f"Decoded open-loop rollout (k = 1..{horizon}), pixel MSE on the [0,1] scale",
        "Each predicted latent of the open-loop rollout is decoded and compared with the true "
        "frame k steps ahead. Baseline: copy-last-frame (the last context frame for every k).",
        better="lower",
    )
    curves, dashed = {}, set()
    copy_done: set = set()
    for g in session.groups:
        comps = g.decoders or [None]
        for comp in comps:
            label = g.label if comp is None or comp.label == g.label else comp.label
            table.add_column(label)
            for k in range(1, horizon + 1):
                table.add_row(row_key(k))
            out = _decoded(session, comp, g, horizon) if comp is not None else None
            if out is None:
                continue
            pred, true, frames, T = out
            ks = list(range(1, horizon + 1))
            errs = [image_errors(true[:, k - 1], pred[:, k - 1])["mse"] for k in ks]
            for k, e in zip(ks, errs, strict=True):
                table.set(row_key(k), label, e)
            curves[label] = (ks, errs)
            src = session.source(g)
            if src is not None and src.key not in copy_done:
                copy = table.add_column(COPY_FRAME + session.store_tag(src), baseline=True)
                last = copy_last_frame(frames, T).float().numpy() / 255.0
                base = [image_errors(true[:, k - 1], last)["mse"] for k in ks]
                for k, e in zip(ks, base, strict=True):
                    table.set(row_key(k), copy, e)
                curves[copy] = (ks, base)
                dashed.add(copy)
                copy_done.add(src.key)
            n = min(session.config.gif_samples, len(pred))
            if n:
                safe = label.replace("/", "_").replace(" ", "_")
                path = session.out_dir / "plots" / f"rollout_{safe}.gif"
                rollout_gif(true[:n], pred[:n], path)
                session.figure(f"Decoded rollout of {label} (top: true, bottom: predicted)", path)
    if not table.baselines:
        table.add_column(COPY_FRAME, baseline=True)
    return table, {"curves": curves, "dashed": dashed}


@probe("rollout", order=30)
def run(session: EvalSession) -> list[Table]:
    """The latent and the decoded open-loop rollout tables, and their curves."""
    horizon = session.config.rollout_horizon
    latent, lat_plot = _latent_table(session, horizon)
    pixels, pix_plot = _pixel_table(session, horizon)
    for name, plot, ylabel in (
        ("rollout_latent", lat_plot, "error / latent variance"),
        ("rollout_pixels", pix_plot, "pixel MSE"),
    ):
        if plot["curves"]:
            path = session.out_dir / "plots" / f"{name}.png"
            line_plot(
                plot["curves"],
                path,
                xlabel="steps ahead k",
                ylabel=ylabel,
                title=name.replace("_", " "),
                dashed=plot["dashed"],
                logy=True,
                integer_x=True,
            )
            session.figure(f"{name.replace('_', ' ')} per model (dashed: baselines)", path)
    return [latent, pixels]
