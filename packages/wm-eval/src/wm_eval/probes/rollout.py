"""Rollout probe: k-step open-loop prediction in latent space, beside the latent baselines, and
decoded into pixels (``rollout_pixels``) beside the pixel baselines."""

from __future__ import annotations

import numpy as np
import torch

from wm_eval import columns as C
from wm_eval.baselines import LinearDynamics, open_loop, shuffled_actions
from wm_eval.data import DataSource
from wm_eval.loading import ModelGroup, apply_batched
from wm_eval.plots import line_plot
from wm_eval.probes.registry import probe
from wm_eval.probes.rollout_pixels import pixel_table, row_key
from wm_eval.report import Table
from wm_eval.scoring import latent_error, window_episodes
from wm_eval.session import EvalSession

__all__ = [
    "DIFFERENCE_TABLE",
    "LATENT_TABLE",
    "fit_linear_dynamics",
    "latent_rollout",
    "latent_target",
    "row_key",
    "run",
]

LATENT_TABLE = "rollout_latent"
DIFFERENCE_TABLE = "rollout_latent_differences"
# The baselines every run's rollout is paired against at each k, by column suffix.
VERSUS = (C.LINEAR_SUFFIX, C.COPY_LATENT_SUFFIX, C.SHUFFLED_SUFFIX)
NO_DIFFERENCE = "0 (as good as the baseline)"


def latent_rollout(
    session: EvalSession, pred: torch.nn.Module, z0: np.ndarray, actions: torch.Tensor
) -> list[np.ndarray]:
    """``[ẑ_1, ..., ẑ_K]``: the predictor fed its own output with ``actions [N, K]``."""
    z = torch.from_numpy(np.asarray(z0)).float()
    out = []
    for k in range(actions.shape[1]):
        z = apply_batched(
            pred, z, actions[:, k], device=session.device, batch_size=session.config.batch_size
        )
        out.append(z.double().numpy())
    return out


def _table(split: str, horizon: int) -> Table:
    table = Table(
        LATENT_TABLE,
        f"Open-loop latent rollout (k = 1..{horizon})",
        f"On {split}-split windows: from z₀ = encoder(s₀) the predictor is applied k times "
        "with the recorded actions; error = mean ‖ẑ_k − z_k‖² / total variance of z_k, with "
        "z_k = target encoder (or encoder) of the true state s_k, so 1.0 is as bad as "
        "predicting the scored windows' own mean. Baselines, each in that run's latent space: "
        "copy-current-latent (ẑ_k = z₀), the training-split mean latent, linear dynamics "
        "(ridge z' = W[z, onehot(a)] + b fit on training-split transitions, rolled out open "
        "loop from z₀) and shuffled actions (the run's own predictor fed the action sequence "
        "of another window: if it scores like the run, the action is not used), beside the "
        "same linear dynamics fed those shuffled actions: the gap between the two linear "
        "columns is what the action is worth to a linear model of this latent, the yardstick "
        "for the gap between the run and its shuffled-actions column. For an "
        "encoder-decoder the latent is only trained through the decoder: see also the "
        "decoded rollout table. [95% episode-bootstrap interval]",
        better="lower",
    )
    table.split = split
    for k in range(1, horizon + 1):
        table.add_row(row_key(k))
    return table


def _difference_table(split: str, horizon: int) -> Table:
    table = Table(
        DIFFERENCE_TABLE,
        f"Open-loop latent rollout minus its baselines (k = 1..{horizon})",
        "Each run's open-loop latent error minus that of a baseline in its own latent space "
        f"(the {LATENT_TABLE} table's figures), paired window by window on the same windows: "
        "below 0 with the whole interval below 0, the run beats that baseline k steps ahead; "
        "an interval that holds 0 means no better; above 0, worse. [95% episode-bootstrap "
        "interval of the paired difference]",
        better="lower",
    )
    table.split = split
    table.add_column(NO_DIFFERENCE, baseline=True)
    for k in range(1, horizon + 1):
        table.add_row(row_key(k))
        table.set(row_key(k), NO_DIFFERENCE, 0.0)
    return table


def difference_column(run: str, suffix: str) -> str:
    """``<run> − <baseline>`` in the differences table (``jepa − linear dynamics``)."""
    return f"{run} − {suffix.removeprefix(' · ')}"


def latent_target(g: ModelGroup) -> torch.nn.Module | None:
    """The encoder that defines the run's latent space: its EMA target, else its encoder."""
    return (g.world.get("target_encoder") if g.world else None) or g.encoder


def fit_linear_dynamics(
    session: EvalSession, target: torch.nn.Module, src: DataSource
) -> tuple[LinearDynamics, np.ndarray]:
    """Linear dynamics and the mean latent, both fit on training-split transitions (once per
    evaluation: the rollout and action probes share them)."""

    def fit() -> tuple[LinearDynamics, np.ndarray]:
        n, cfg = session.config.probe_train_samples, session.config
        z = session.latents(target, src, "train", 1, n, 0)
        z_next = session.latents(target, src, "train", 1, n, 1)
        actions = src.batch("train", 1, n, cfg.seed)["actions"][:, 0].numpy()
        num_actions = src.dataset("train", 1).num_actions
        return LinearDynamics.fit(z, actions, z_next, num_actions), z.mean(axis=0)

    return session.memo(("linear dynamics", id(target), src.key), fit)


def _predictions(
    session: EvalSession, g: ModelGroup, src: DataSource, horizon: int
) -> dict[str, list[np.ndarray]]:
    """Every column's ``[ẑ_1, ..., ẑ_K]`` for the run ``g`` on the scored windows."""
    cfg = session.config
    target = latent_target(g)
    batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
    actions = batch["actions"]
    z_start = session.latents(g.encoder, src, cfg.split, horizon, cfg.max_samples, 0)
    z0 = session.latents(target, src, cfg.split, horizon, cfg.max_samples, 0)
    with session.timed("linear dynamics fit"):
        linear, mean = fit_linear_dynamics(session, target, src)
    shuffled = shuffled_actions(actions, cfg.seed)
    return {
        g.label: latent_rollout(session, g.predictor, z_start, actions),
        C.copy_latent(g.label): [z0] * horizon,
        C.mean_latent(g.label): [np.broadcast_to(mean, z0.shape)] * horizon,
        C.linear_dynamics(g.label): open_loop(linear, z0, actions.numpy()),
        C.shuffled_actions(g.label): latent_rollout(session, g.predictor, z_start, shuffled),
        C.linear_shuffled(g.label): open_loop(linear, z0, shuffled.numpy()),
    }


def latent_table(session: EvalSession, horizon: int) -> tuple[Table, Table, dict]:
    """The latent rollout table (each run beside its five latent baselines) and the table of
    each run's paired differences to its linear-dynamics, copy-latent and shuffled-actions
    baselines at every k."""
    cfg = session.config
    table = _table(cfg.split, horizon)
    differences = _difference_table(cfg.split, horizon)
    plot: dict = {"curves": {}, "dashed": set()}
    ks = list(range(1, horizon + 1))
    for g in session.groups:
        names = [
            g.label,
            C.copy_latent(g.label),
            C.mean_latent(g.label),
            C.linear_dynamics(g.label),
            C.shuffled_actions(g.label),
            C.linear_shuffled(g.label),
        ]
        for i, name in enumerate(names):
            table.add_column(name, baseline=i > 0)
        src = session.source(g)
        if g.encoder is None or g.predictor is None or src is None:
            continue
        batch = src.batch(cfg.split, horizon, cfg.max_samples, cfg.seed)
        eps = window_episodes(src, cfg.split, horizon, batch)
        target = latent_target(g)
        targets = [session.latents(target, src, cfg.split, horizon, cfg.max_samples, k) for k in ks]
        variances = [float(np.asarray(z, dtype=np.float64).var(axis=0).sum()) for z in targets]
        errors = {}
        for name, preds in _predictions(session, g, src, horizon).items():
            errors[name] = [latent_error(p, z, eps) for p, z in zip(preds, targets, strict=True)]
            for k, (m, variance) in enumerate(zip(errors[name], variances, strict=True), 1):
                table.set_ratio(row_key(k), name, m, denominator=variance)
            plot["curves"][name] = (ks, [m.value for m in errors[name]])
            if name != g.label:
                plot["dashed"].add(name)
        for suffix in VERSUS:
            column = differences.add_column(difference_column(g.label, suffix))
            pairs = zip(errors[g.label], errors[g.label + suffix], variances, strict=True)
            for k, (run, base, variance) in enumerate(pairs, 1):
                differences.set_ratio(row_key(k), column, run.minus(base), variance)
    return table, differences, plot


@probe("rollout", order=30)
def run(session: EvalSession) -> list[Table]:
    """The latent and the decoded open-loop rollout tables, and their curves."""
    horizon = session.config.rollout_horizon
    latent, differences, lat_plot = latent_table(session, horizon)
    pixels, pix_plot = pixel_table(session, horizon)
    pixels.columns.sort(key=lambda c: c in pixels.baselines)  # models first, then baselines
    for table, plot, ylabel in (
        (latent, lat_plot, "error / latent variance"),
        (pixels, pix_plot, "pixel MSE"),
    ):
        if plot["curves"]:
            path = session.out_dir / "plots" / f"{table.name}.png"
            line_plot(
                plot["curves"],
                path,
                xlabel="steps ahead k",
                ylabel=ylabel,
                title=table.name.replace("_", " "),
                dashed=plot["dashed"],
                logy=True,
                integer_x=True,
            )
            session.figure(f"{table.name.replace('_', ' ')} per model (dashed: baselines)", path)
    return [latent, differences, pixels]
