"""Reward probes: reward heads fed the true next latent vs the predicted one, and how much
reward information a frozen latent holds at all (a linear probe, next to one on pixels)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from wm_eval import columns as C
from wm_eval.baseline_cache import cached
from wm_eval.baselines import CopyLatentPredictor
from wm_eval.data import DataSource
from wm_eval.loading import Component, ModelGroup, apply_batched
from wm_eval.metrics.probes import event_scores
from wm_eval.metrics.reward import (
    auroc_measurement,
    average_precision_measurement,
    reward_measurements,
)
from wm_eval.probes.registry import probe
from wm_eval.report import Table
from wm_eval.session import EvalSession
from wm_eval.stats import Measurement

HORIZON = 1
ROWS = {  # row key (a reward_measurements key) -> label
    "mse": "MSE",
    "mae": "MAE",
    "r2": "R²",
    "mse_nonzero": "MSE on reward≠0 steps",
    "mae_nonzero": "MAE on reward≠0 steps",
    "auroc_positive": "AUROC of reward>0",
}
GAP = "mse_gap"
GAP_LABEL = "MSE gap (predicted − true next)"
INFO_ROWS = {  # row key -> label
    "auroc": "AUROC of reward>0, linear probe",
    "average_precision": "average precision of reward>0, linear probe",
}


@probe("reward", order=50)
def run(session: EvalSession) -> list[Table]:
    """The reward-head table and the reward-information table."""
    return [heads_table(session), information_table(session)]


def _heads_table(split: str) -> Table:
    table = Table(
        "reward",
        "Reward prediction",
        f"Each reward head r̂ = head(z, z') on {split}-split windows, with z' = encoder(s') "
        "(true next latent), z' = predictor(z, a) (predicted next latent; the gap row is the "
        "paired MSE difference) and z' = z (copy-current-latent baseline). 'trained on' in the "
        "column name is the run's reward_source. Rewards are sparse, so also the error on steps "
        "with a non-zero reward and the AUROC of the prediction for reward > 0. Baseline: a "
        "constant equal to the mean training-split reward. Each head standardises its inputs "
        "with the training-split statistics stored in its checkpoint (a note names any head "
        "without them). [95% episode-bootstrap interval; n/a interval: too few episodes with a "
        "reward]",
        better="MSE/MAE lower, R²/AUROC higher",
    )
    for key, label in [*ROWS.items(), (GAP, GAP_LABEL)]:
        table.add_row(key, label)
    return table


def _scored(session: EvalSession, table: Table, src: DataSource) -> dict[str, torch.Tensor]:
    """The scored windows of ``src`` (``config.split``), recorded on the table."""
    cfg = session.config
    batch = src.batch(cfg.split, HORIZON, cfg.max_samples, cfg.seed)
    table.scored_on(cfg.split, batch["episode"].numpy())
    return batch


def _constant_column(session: EvalSession, table: Table, src: DataSource) -> None:
    """The train-mean reward, scored on the same windows as the heads of ``src``."""
    cfg = session.config
    label = table.add_column(C.CONSTANT_REWARD + session.store_tag(src), baseline=True)
    train_r = src.batch("train", HORIZON, cfg.probe_train_samples, cfg.seed)["rewards"]
    batch = _scored(session, table, src)
    true_r = batch["rewards"][:, 0].numpy()
    const = np.full(len(true_r), float(train_r[:, 0].mean()))
    for key, m in reward_measurements(true_r, const, batch["episode"].numpy()).items():
        if key in ROWS:
            table.set(key, label, m)


def _score_head(
    session: EvalSession, table: Table, comp: Component, g: ModelGroup, src: DataSource | None
) -> None:
    """``head(z, z')`` for the true, the predicted and the copied next latent."""
    cfg, device = session.config, session.device
    enc = comp.get("encoder") or g.encoder
    pred = comp.get("predictor") or g.predictor
    head = comp.get("reward_head")
    stem = C.reward_head_stem(comp.label, comp.run.reward_source)
    names = C.reward_head_columns(stem)
    cols = {k: table.add_column(c, baseline=k == "copy") for k, c in names.items()}
    if enc is None or src is None:
        return
    if not getattr(head, "has_input_statistics", False):
        session.report.notes.append(
            f"Reward head {stem} reads raw latents (its checkpoint holds no training-split input "
            "statistics): its errors partly reflect the scale of its run's latents."
        )
    batch = _scored(session, table, src)
    episodes = batch["episode"].numpy()
    actions = batch["actions"][:, 0]
    true_r = batch["rewards"][:, 0].numpy()
    z = torch.from_numpy(session.latents(enc, src, cfg.split, HORIZON, cfg.max_samples, 0)).float()
    true_next = session.latents(enc, src, cfg.split, HORIZON, cfg.max_samples, 1)
    nexts = {"true": torch.from_numpy(true_next).float(), "copy": CopyLatentPredictor()(z, actions)}
    if pred is not None:
        nexts["pred"] = apply_batched(pred, z, actions, device=device, batch_size=cfg.batch_size)
    mse: dict[str, Measurement] = {}
    for key, zn in nexts.items():
        r_hat = apply_batched(head, z, zn, device=device, batch_size=cfg.batch_size).numpy()
        res = reward_measurements(true_r, r_hat, episodes)
        mse[key] = res["mse"]
        for m, v in res.items():
            if m in ROWS:
                table.set(m, cols[key], v)
    if "pred" in mse:
        table.set(GAP, cols["pred"], mse["pred"].minus(mse["true"]))


def heads_table(session: EvalSession) -> Table:
    """Score every reward head with ``head(z, z_next)`` for three choices of ``z_next``."""
    table = _heads_table(session.config.split)
    table.split = session.config.split
    const_done: set[tuple] = set()
    for g in session.groups:
        src = session.source(g)
        if src is not None and src.key not in const_done:
            _constant_column(session, table, src)
            const_done.add(src.key)
        if not g.reward_heads:
            table.add_column(g.label)
        for comp in g.reward_heads:
            with session.timed("reward heads"):
                _score_head(session, table, comp, g, src)
    if not table.baselines:
        table.add_column(C.CONSTANT_REWARD, baseline=True)
    return table


def transition_features(
    session: EvalSession, encoder: torch.nn.Module, src: DataSource, split: str, n: int
) -> np.ndarray:
    """``[z, z', z' − z]`` of the subsample's transitions, as the MLP reward head sees them.

    Latents are standardised with the training split's per-dimension statistics first, so a
    model whose latents are 20 times larger is read out under the same regularisation.
    """
    z = session.standardised(encoder, src, split, HORIZON, n, 0)
    z_next = session.standardised(encoder, src, split, HORIZON, n, 1)
    return np.concatenate([z, z_next, z_next - z], axis=1)


def pixel_features(frames: torch.Tensor) -> np.ndarray:
    """All T+1 frames of each window, average-pooled to at most 16×16 and flattened."""
    x = frames.float().div(255.0).flatten(1, 2)  # [N, (T+1)*C, H, W]
    size = (min(C.POOLED, x.shape[-2]), min(C.POOLED, x.shape[-1]))
    return F.adaptive_avg_pool2d(x, size).flatten(1).numpy()


def _information_table(split: str) -> Table:
    table = Table(
        "reward_information",
        "Reward information in the latent: linear probe of reward > 0",
        "[z, z', z' − z] of each frozen encoder, standardised with training-split statistics → "
        "class-balanced logistic regression fit on training-split transitions, scored on "
        f"{split}-split episodes by AUROC and average precision (both fit to rare events). "
        f"Baselines: the same probe on the window's frames average-pooled to {C.POOLED}×"
        f"{C.POOLED} (what pixels reveal linearly), a random-init encoder, and chance (AUROC "
        "0.5; average precision = the share of rewarded steps). [95% episode-bootstrap "
        "interval, the read-out held fixed; n/a interval: too few episodes with a reward]",
        better="higher",
    )
    table.split = split
    for key, label in INFO_ROWS.items():
        table.add_row(key, label)
    return table


def _set_scores(table: Table, column: str, y: np.ndarray, score, episodes: np.ndarray) -> None:
    """AUROC and average precision of a read-out's test scores (n/a without both classes)."""
    if score is None:
        for key in INFO_ROWS:
            table.set(key, column, None)
        return
    table.set("auroc", column, auroc_measurement(y, score, episodes))
    table.set("average_precision", column, average_precision_measurement(y, score, episodes))


def _store_baselines(
    session: EvalSession, table: Table, src: DataSource, train, scored, episodes
) -> None:
    """The pooled-pixel probe and chance, once per store, on the same windows as the latents."""
    y_tr, y = train["rewards"][:, 0].numpy() > 0, scored["rewards"][:, 0].numpy() > 0
    tag = session.store_tag(src)
    pixels = table.add_column(C.PIXELS + tag, baseline=True)
    scores = cached(event_scores, session.config.baseline_cache)  # the same for every run
    score = scores(pixel_features(train["frames"]), y_tr, pixel_features(scored["frames"]), y)
    _set_scores(table, pixels, y, score, episodes)
    chance = table.add_column(C.CHANCE + tag, baseline=True)
    both = bool(0 < y.sum() < len(y))
    # Chance: AUROC 0.5 wherever both classes are present, average precision = prevalence.
    table.set("auroc", chance, auroc_measurement(y, np.zeros(len(y)), episodes) if both else None)
    table.set("average_precision", chance, Measurement.mean(y.astype(float), episodes))


def information_table(session: EvalSession) -> Table:
    """A class-balanced linear probe of reward > 0 from each frozen encoder's (z, z').

    A reward head can only use what the latent kept. The pixel column is the same probe on
    pooled frames: reward events that pixels reveal but a latent does not were lost by the
    encoder, not by the head.
    """
    cfg = session.config
    table = _information_table(cfg.split)
    columns = session.encoder_columns()
    for c in columns:
        table.add_column(c.label, baseline=c.baseline)
    done: set = set()
    for c in columns:
        src = c.source
        if c.encoder is None or src is None:
            continue
        train = src.batch("train", HORIZON, cfg.probe_train_samples, cfg.seed)
        scored = src.batch(cfg.split, HORIZON, cfg.max_samples, cfg.seed)
        episodes = scored["episode"].numpy()
        table.scored_on(cfg.split, episodes)
        y = scored["rewards"][:, 0].numpy() > 0
        x_tr = transition_features(session, c.encoder, src, "train", cfg.probe_train_samples)
        x_te = transition_features(session, c.encoder, src, cfg.split, cfg.max_samples)
        with session.timed("read-outs on latents"), threadpool_limits(1):
            score = event_scores(x_tr, train["rewards"][:, 0].numpy() > 0, x_te, y)
        _set_scores(table, c.label, y, score, episodes)
        if src.key not in done:
            done.add(src.key)
            with session.timed("read-out on pooled pixels"), threadpool_limits(1):
                _store_baselines(session, table, src, train, scored, episodes)
    if not table.baselines:
        table.add_column(C.CHANCE, baseline=True)
    return table
