"""Decoded open-loop rollouts in pixel space, under two protocols, beside the pixel baselines.

* **pixel loop** (re-encoded): each predicted latent is decoded, the frame is stacked into the
  T-frame context in place of the oldest frame, re-encoded, and the predictor steps again
  from that latent. This is what a pixel-space model (the encoder-decoder) is trained for: its
  predictor only ever saw latents of real frames.
* **latent loop**: the predictor is fed its own latent output k times and each latent is
  decoded. This is the JEPA's own protocol; an encoder-decoder's predictor leaves the latent
  space it was trained on here.

Both agree at k = 1. Each decoder gets both columns, its own protocol first (the
encoder-decoder's pixel loop, a derived decoder's latent loop).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from wm_eval import columns as C
from wm_eval.loading import Component, ModelGroup
from wm_eval.metrics.images import window_errors
from wm_eval.plots import rollout_gif
from wm_eval.report import Table
from wm_eval.scoring import frame_reference, to_unit, window_episodes
from wm_eval.session import EvalSession
from wm_eval.stats import Measurement

PIXEL_LOOP, LATENT_LOOP = "pixel loop", "latent loop"
PIXEL_WORKFLOWS = ("encoder_decoder",)


def row_key(k: int) -> str:
    """The row of k steps ahead, in both rollout tables (also its label)."""
    return f"k={k}"


def protocol_column(label: str, protocol: str) -> str:
    """The column of one decoder under one protocol (``encoder_decoder/pixel loop``)."""
    return f"{label}/{protocol}"


@torch.inference_mode()
def decoded_rollouts(
    modules: tuple[nn.Module, nn.Module, nn.Module],
    frames: torch.Tensor,
    actions: torch.Tensor,
    context: int,
    *,
    protocols: Sequence[str] = (PIXEL_LOOP, LATENT_LOOP),
    device: torch.device | str,
    batch_size: int = 256,
    keep: int = 0,
    z0: np.ndarray | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per protocol: per-window pixel MSE ``[N, K]`` of an open-loop decoded rollout of
    ``frames [N, T+K, ...]`` and the predicted frames ``[keep, K, C, H, W]`` of the first
    ``keep`` windows.

    The protocols share their first step (both decode ``predictor(encoder(s_0), a_0)``), so it
    is computed once; ``z0`` (``[N, D]``): the encoder's latents of the start states, when
    already known, spares that encoder pass.
    """
    enc, pred, dec = modules
    horizon = actions.shape[1]
    errors: dict[str, list[torch.Tensor]] = {p: [] for p in protocols}
    kept: dict[str, list[torch.Tensor]] = {p: [] for p in protocols}
    for s in range(0, len(frames), batch_size):
        x = frames[s : s + batch_size].to(device).float() / 255
        a = actions[s : s + batch_size].to(device)
        ctx, true = x[:, :context], x[:, context : context + horizon]
        z = enc(ctx) if z0 is None else torch.from_numpy(z0[s : s + batch_size]).float().to(device)
        z = pred(z, a[:, 0])
        first = dec(z).clamp(0, 1)
        for protocol in protocols:
            out, z_k, c = [first], z, ctx
            for k in range(1, horizon):
                if protocol == PIXEL_LOOP:  # restack the decoded frame, re-encode
                    c = torch.cat([c[:, 1:], out[-1][:, None]], dim=1)
                    z_k = enc(c)
                z_k = pred(z_k, a[:, k])
                out.append(dec(z_k).clamp(0, 1))
            predicted = torch.stack(out, dim=1)
            errors[protocol].append(((predicted - true) ** 2).flatten(2).mean(2).double().cpu())
            if s < keep:
                kept[protocol].append(predicted[: keep - s].float().cpu())
    shape = (0, horizon, *frames.shape[2:])
    return {
        p: (
            torch.cat(errors[p]).numpy() if errors[p] else np.zeros((0, horizon)),
            torch.cat(kept[p]).numpy() if kept[p] else np.zeros(shape),
        )
        for p in protocols
    }


def decoded_rollout(
    modules: tuple[nn.Module, nn.Module, nn.Module],
    frames: torch.Tensor,
    actions: torch.Tensor,
    context: int,
    *,
    reencode: bool,
    device: torch.device | str,
    batch_size: int = 256,
    keep: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """One protocol of :func:`decoded_rollouts`: the pixel loop (``reencode``) or the latent
    loop; per-window MSE ``[N, K]`` and the first ``keep`` predicted rollouts."""
    protocol = PIXEL_LOOP if reencode else LATENT_LOOP
    return decoded_rollouts(
        modules,
        frames,
        actions,
        context,
        protocols=(protocol,),
        device=device,
        batch_size=batch_size,
        keep=keep,
    )[protocol]


def _table(split: str, horizon: int, per_episode: int) -> Table:
    table = Table(
        "rollout_pixels",
        f"Decoded open-loop rollout (k = 1..{horizon}), pixel MSE on the [0,1] scale",
        f"On {split}-split windows, at most {per_episode} evenly spread through each episode "
        "(every scored episode kept: the episode bootstrap's width is set by the episodes), "
        "from the T context frames and the recorded actions. "
        "'pixel loop': each predicted frame is decoded, stacked into the context and "
        "re-encoded before the next step (the protocol a pixel model is trained for). 'latent "
        "loop': the predictor is fed its own latents and each is decoded (the JEPA's protocol; "
        "an encoder-decoder's predictor leaves its training distribution). Both agree at k=1. "
        "Baselines on the same windows: copy-last-frame, the training mean and median frame, "
        "and a σ=1 blur of the last frame, each held for every k. A decoder that draws only "
        "the background scores like the mean frame at every k. [95% episode-bootstrap "
        "interval]",
        better="lower",
    )
    table.split = split
    for k in range(1, horizon + 1):
        table.add_row(row_key(k))
    return table


def _curve(table: Table, column: str, errors: np.ndarray, eps: np.ndarray) -> tuple[list, list]:
    """Each k's mean per-window error as a cell (with its interval), and the curve to plot."""
    values = []
    for k in range(errors.shape[1]):
        m = Measurement.mean(errors[:, k], eps)
        table.set(row_key(k + 1), column, m)
        values.append(m.value)
    return list(range(1, len(values) + 1)), values


def _baselines(session: EvalSession, table: Table, g: ModelGroup, horizon: int, plot: dict):
    """The pixel baselines of ``g``'s store, on the same windows as its decoders."""
    cfg, src = session.config, session.source(g)
    batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
    pick = session.decoded_windows(src, horizon)
    eps = window_episodes(src, cfg.split, horizon, batch)[pick]
    table.scored_on(cfg.split, eps)
    frames, T = batch["frames"][torch.from_numpy(pick)], src.context
    ref = frame_reference(src, cfg.probe_train_samples, cfg.seed)
    preds = ref.predictions(to_unit(frames[:, T - 1]))
    errors = {name: np.empty((len(eps), horizon)) for name in preds}
    with session.timed("pixel baselines"):
        for k in range(horizon):  # one true frame in memory at a time
            true = to_unit(frames[:, T + k])
            for name, pred in preds.items():
                errors[name][:, k] = window_errors(true, pred)["mse"]
    for name, err in errors.items():
        column = table.add_column(name + session.store_tag(src), baseline=True)
        plot["curves"][column] = _curve(table, column, err, eps)
        plot["dashed"].add(column)


def _decoder(session, table, label, g: ModelGroup, comp: Component, horizon: int, plot: dict):
    """Both protocols of one decoder; its own protocol first."""
    cfg, src = session.config, session.source(g)
    enc = comp.get("encoder") or g.encoder
    pred = comp.get("predictor") or g.predictor
    own_pixel = comp.run.workflow in PIXEL_WORKFLOWS
    protocols = (PIXEL_LOOP, LATENT_LOOP) if own_pixel else (LATENT_LOOP, PIXEL_LOOP)
    columns = [table.add_column(protocol_column(label, p)) for p in protocols]
    if enc is None or pred is None:
        return
    batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
    pick = session.decoded_windows(src, horizon)
    eps = window_episodes(src, cfg.split, horizon, batch)[pick]
    rows = torch.from_numpy(pick)
    frames, actions = batch["frames"][rows], batch["actions"][rows]
    z0 = session.latents(enc, src, cfg.split, horizon, cfg.max_samples, 0)[pick]
    T, n_gif = src.context, min(cfg.gif_samples, len(eps))
    with session.timed("decoded rollouts (both protocols)"):
        results = decoded_rollouts(
            (enc, pred, comp.get("decoder")),
            frames,
            actions,
            T,
            protocols=protocols,
            device=session.device,
            batch_size=cfg.batch_size,
            keep=n_gif,
            z0=z0,
        )
    for column, protocol in zip(columns, protocols, strict=True):
        errors, predicted = results[protocol]
        plot["curves"][column] = _curve(table, column, errors, eps)
        if n_gif and column == columns[0]:
            safe = column.replace("/", "_").replace(" ", "_")
            path = session.out_dir / "plots" / f"rollout_{safe}.gif"
            rollout_gif(to_unit(frames[:n_gif, T : T + horizon]), predicted, path)
            session.figure(f"Decoded rollout of {column} (top: true, bottom: predicted)", path)


def pixel_table(session: EvalSession, horizon: int) -> tuple[Table, dict]:
    """The decoded rollout table (both protocols per decoder, pixel baselines per store)."""
    cfg = session.config
    table = _table(cfg.split, horizon, cfg.decoded_per_episode)
    plot: dict = {"curves": {}, "dashed": set()}
    done: set = set()
    for g in session.groups:
        src = session.source(g)
        for comp in g.decoders or [None]:
            label = g.label if comp is None or comp.label == g.label else comp.label
            if comp is None or src is None:
                table.add_column(label)
                continue
            if src.key not in done:
                _baselines(session, table, g, horizon, plot)
                done.add(src.key)
            _decoder(session, table, label, g, comp, horizon, plot)
    if not table.baselines:
        for name in (C.COPY_FRAME, C.MEAN_FRAME, C.MEDIAN_FRAME, C.BLUR_FRAME):
            table.add_column(name, baseline=True)
    return table, plot
