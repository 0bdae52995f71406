"""Reward probes: reward heads fed the true next latent vs the predicted one, and how much
reward information a frozen latent holds at all (a linear probe, next to one on pixels)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from wm_eval.context import EvalContext
from wm_eval.metrics import event_probe, reward_metrics
from wm_eval.models import apply_batched, encode
from wm_eval.report import Table

HORIZON = 1
ROWS = {
    "mse": "MSE",
    "mae": "MAE",
    "r2": "R²",
    "mse_nonzero": "MSE on reward≠0 steps",
    "mae_nonzero": "MAE on reward≠0 steps",
    "auroc_positive": "AUROC of reward>0",
}
GAP = "MSE gap (predicted − true next)"
INFO_ROWS = {
    "auroc": "AUROC of reward>0, linear probe",
    "average_precision": "average precision of reward>0, linear probe",
}
PIXELS = "pixels, 16×16 pooled (s, s')"
CHANCE = "chance"
POOLED = 16


def run(ctx: EvalContext) -> list[Table]:
    return [heads_table(ctx), information_table(ctx)]


def heads_table(ctx: EvalContext) -> Table:
    """Score every reward head with ``head(z, z_next)`` for three choices of ``z_next``."""
    cfg = ctx.config
    table = Table(
        "reward",
        "Reward prediction",
        "Each reward head r̂ = head(z, z') on validation windows, with z' = encoder(s') (true "
        "next latent), z' = predictor(z, a) (predicted next latent; the gap row is the MSE "
        "difference) and z' = z (copy-current-latent baseline). 'trained on' in the column "
        "name is the run's reward_source. Rewards are sparse, so also the error on steps with a "
        "non-zero reward and the AUROC of the prediction for reward > 0. Baseline: a constant "
        "equal to the mean training reward.",
        better="MSE/MAE lower, R²/AUROC higher",
    )
    for row in [*ROWS.values(), GAP]:
        table.ensure_row(row)
    const_done: dict[tuple, str] = {}
    for g in ctx.groups:
        src = ctx.source(g)
        if src is not None and src.key not in const_done:
            label = "constant (train mean)" + ctx.store_tag(src)
            table.add_column(label, baseline=True)
            const_done[src.key] = label
            train_r = src.batch("train", HORIZON, cfg.probe_train_samples, cfg.seed)["rewards"]
            val_r = src.batch("val", HORIZON, cfg.max_samples, cfg.seed)["rewards"][:, 0].numpy()
            const = np.full(len(val_r), float(train_r[:, 0].mean()))
            for key, v in reward_metrics(val_r, const).items():
                if key in ROWS:
                    table.set(ROWS[key], label, v)
        if not g.reward_heads:
            table.add_column(g.label)
            continue
        for comp in g.reward_heads:
            enc = comp.get("encoder") or g.encoder
            pred = comp.get("predictor") or g.predictor
            head = comp.get("reward_head")
            source = comp.run.meta.get("reward_source")
            base = comp.label + (f" [trained on {source}]" if source else "")
            cols = {
                "true": table.add_column(f"{base}: true next"),
                "pred": table.add_column(f"{base}: predicted next"),
                "copy": table.add_column(f"{base}: copy-latent", baseline=True),
            }
            if enc is None or src is None:
                continue
            batch = src.batch("val", HORIZON, cfg.max_samples, cfg.seed)
            T = src.context
            frames, actions = batch["frames"], batch["actions"][:, 0]
            true_r = batch["rewards"][:, 0].numpy()
            z = torch.from_numpy(encode(enc, frames[:, :T], ctx.device, cfg.batch_size)).float()
            nexts = {
                "true": torch.from_numpy(
                    encode(enc, frames[:, 1 : T + 1], ctx.device, cfg.batch_size)
                ).float(),
                "copy": z,
            }
            if pred is not None:
                nexts["pred"] = apply_batched(
                    pred, z, actions, device=ctx.device, batch_size=cfg.batch_size
                )
            mse = {}
            for key, zn in nexts.items():
                r_hat = apply_batched(
                    head, z, zn, device=ctx.device, batch_size=cfg.batch_size
                ).numpy()
                res = reward_metrics(true_r, r_hat)
                mse[key] = res["mse"]
                for m, v in res.items():
                    if m in ROWS:
                        table.set(ROWS[m], cols[key], v)
            if "pred" in mse:
                table.set(GAP, cols["pred"], mse["pred"] - mse["true"])
    if not table.baselines:
        table.add_column("constant (train mean)", baseline=True)
    return table


def transition_features(ctx: EvalContext, encoder: torch.nn.Module, src, split: str, n: int):
    """``[z, z', z' − z]`` of the subsample's transitions, as the MLP reward head sees them."""
    z = ctx.latents(encoder, src, split, HORIZON, n, 0)
    z_next = ctx.latents(encoder, src, split, HORIZON, n, 1)
    return np.concatenate([z, z_next, z_next - z], axis=1)


def pixel_features(frames: torch.Tensor) -> np.ndarray:
    """All T+1 frames of each window, average-pooled to at most 16×16 and flattened."""
    x = frames.float().div(255.0).flatten(1, 2)  # [N, (T+1)*C, H, W]
    size = (min(POOLED, x.shape[-2]), min(POOLED, x.shape[-1]))
    return F.adaptive_avg_pool2d(x, size).flatten(1).numpy()


def information_table(ctx: EvalContext) -> Table:
    """A class-balanced linear probe of reward > 0 from each frozen encoder's (z, z').

    A reward head can only use what the latent kept. The pixel column is the same probe on
    pooled frames: reward events that pixels reveal but a latent does not were lost by the
    encoder, not by the head.
    """
    cfg = ctx.config
    table = Table(
        "reward_information",
        "Reward information in the latent: linear probe of reward > 0",
        "Standardised [z, z', z' − z] of each frozen encoder → class-balanced logistic "
        "regression fit on training-split transitions, scored on validation episodes by "
        "AUROC and average precision (both fit to rare events). Baselines: the same probe on "
        f"the window's frames average-pooled to {POOLED}×{POOLED} (what pixels reveal "
        "linearly), a random-init encoder, and chance (AUROC 0.5; average precision = the "
        "share of rewarded steps).",
        better="higher",
    )
    for row in INFO_ROWS.values():
        table.ensure_row(row)
    columns = ctx.encoder_columns()
    for c in columns:
        table.add_column(c.label, baseline=c.baseline)
    done: set = set()
    for c in columns:
        src = c.source
        if c.encoder is None or src is None:
            continue
        train = src.batch("train", HORIZON, cfg.probe_train_samples, cfg.seed)
        val = src.batch("val", HORIZON, cfg.max_samples, cfg.seed)
        y_tr, y_va = train["rewards"][:, 0].numpy() > 0, val["rewards"][:, 0].numpy() > 0
        res = event_probe(
            transition_features(ctx, c.encoder, src, "train", cfg.probe_train_samples),
            y_tr,
            transition_features(ctx, c.encoder, src, "val", cfg.max_samples),
            y_va,
        )
        for key, row in INFO_ROWS.items():
            table.set(row, c.label, res[key])
        if src.key in done:
            continue
        done.add(src.key)
        tag = ctx.store_tag(src)
        pixels = event_probe(
            pixel_features(train["frames"]), y_tr, pixel_features(val["frames"]), y_va
        )
        chance = {
            "auroc": 0.5 if 0 < y_va.sum() < len(y_va) else None,
            "average_precision": res["prevalence"],
        }
        for label, values in ((PIXELS + tag, pixels), (CHANCE + tag, chance)):
            table.add_column(label, baseline=True)
            for key, row in INFO_ROWS.items():
                table.set(row, label, values[key])
    if not table.baselines:
        table.add_column(CHANCE, baseline=True)
    return table
