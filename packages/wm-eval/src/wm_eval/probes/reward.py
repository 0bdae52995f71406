"""Reward probe: reward heads fed the true next latent vs the predicted one."""

from __future__ import annotations

import numpy as np
import torch

from wm_eval.context import EvalContext
from wm_eval.metrics import reward_metrics
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


def run(ctx: EvalContext) -> list[Table]:
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
    return [table]
